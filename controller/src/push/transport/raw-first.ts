import * as grpc from "@grpc/grpc-js";
import type { PushPathsRequest, PushPathsResponse, RawPushProgress } from "@ros-rollback/proto";
import { type CallContext, noAnswer } from "../../agent-api/calls.js";
import { AgentCallError } from "../../agent-api/errors.js";
import type { PushContext } from "../../agent-api/push-via.js";
import type { PushTransport } from "../../agent-api/types.js";
import { pushPaths } from "./push-paths.js";
import { RawPushBroken, RawPushNoAnswer, RawPushStatus, rawPush } from "./raw-push-client.js";

/** A push over the agent's raw channel when it offers one (ALPN), else gRPC PushPaths. */
export async function pushRawFirst(
  p: PushContext,
  requests: AsyncIterable<PushPathsRequest>,
  signal: AbortSignal,
  onWritten?: (request: PushPathsRequest) => void,
  onTransport?: (transport: PushTransport) => void,
  onAgentProgress?: (progress: RawPushProgress) => void,
): Promise<PushPathsResponse> {
  const raw = await rawPush(p.raw, requests, signal, {
    connectTimeoutMs: p.connectTimeoutMs,
    answerTimeoutMs: p.ctx.unaryTimeoutMs,
    ...(onWritten === undefined ? {} : { onWritten }),
    onOpen: (progress) => onTransport?.({ kind: "raw", progress }),
    ...(onAgentProgress === undefined ? {} : { onProgress: onAgentProgress }),
  }).catch((e: unknown) => {
    throw signal.aborted ? signal.reason : fromRawPush(p.ctx, e);
  });
  if (raw.kind === "pushed") return raw.response;
  onTransport?.({ kind: "grpc", why: raw.why });
  return pushPaths(p.ctx, p.client, requests, signal, onWritten);
}

/** The raw channel's failures as gRPC's would have been. */
function fromRawPush(ctx: CallContext, e: unknown): unknown {
  const name = ctx.target.name;
  if (e instanceof RawPushStatus)
    return new AgentCallError(name, e.code, e.details, { cause: e, agentCode: e.agentCode });
  if (e instanceof RawPushNoAnswer) return noAnswer(ctx, e.what, e);
  if (e instanceof RawPushBroken)
    return new AgentCallError(name, grpc.status.UNAVAILABLE, e.message, { cause: e });
  return e;
}
