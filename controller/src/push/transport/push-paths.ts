import type { AgentClient, PushPathsRequest, PushPathsResponse } from "@ros-rollback/proto";
import { type CallContext, noAnswer } from "../../agent-api/calls.js";
import { toAgentCallError } from "../../agent-api/errors.js";
import { settlesWithin } from "../../core/settles-within.js";

/** PushPaths: a client stream fed from `requests`, with HTTP/2 flow control and our deadlines. */
export async function pushPaths(
  ctx: CallContext,
  client: AgentClient,
  requests: AsyncIterable<PushPathsRequest>,
  signal: AbortSignal,
  onWritten?: (request: PushPathsRequest) => void,
): Promise<PushPathsResponse> {
  signal.throwIfAborted();
  let settle!: { resolve: (r: PushPathsResponse) => void; reject: (e: unknown) => void };
  const response = new Promise<PushPathsResponse>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const call = client.pushPaths((err, res) => (err ? settle.reject(err) : settle.resolve(res)));
  const onAbort = () => call.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  // The call may end early (the agent refuses a path): stop producing then.
  let ended = false;
  response
    .finally(() => {
      ended = true;
    })
    .catch(() => undefined);
  try {
    try {
      for await (const request of requests) {
        if (ended) break;
        if (!call.write(request, () => onWritten?.(request))) {
          const drained = new Promise<void>((resolve) => call.once("drain", () => resolve()));
          if (!(await settlesWithin(Promise.race([drained, response]), ctx.unaryTimeoutMs))) {
            throw noAnswer(ctx, "PushPaths (it stopped reading the push)", undefined);
          }
        }
      }
    } catch (e) {
      // Our producer failed (local read error, abort): the agent must not
      // register a half-sent path, so cancel instead of half-closing.
      call.cancel();
      response.catch(() => undefined);
      throw signal.aborted ? signal.reason : e;
    }
    if (!ended) call.end();
    if (!(await settlesWithin(response, ctx.unaryTimeoutMs))) {
      call.cancel();
      throw noAnswer(ctx, "PushPaths (after the last byte)", undefined);
    }
    return await response;
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw toAgentCallError(ctx.target.name, e);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
