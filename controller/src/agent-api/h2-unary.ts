// A unary gRPC call over node:http2 on one end-to-end TLS connection: for a robot behind a relay,
// the stream the relay gave is the connection, with no grpc-js channel and no loopback proxy in
// between (relay/README.md, Cost and scale: the CLI's largest cost in status --all).
import { once } from "node:events";
import { type ClientHttp2Session, constants, connect as h2Connect } from "node:http2";
import type { Duplex } from "node:stream";
import { type SecureContext, connect as tlsConnect } from "node:tls";
import { AGENT_ERROR_CODE_KEY, GrpcStatus } from "@ros-rollback/proto";
import { AgentCallError } from "./call-error.js";
import { type CallContext, noAnswer } from "./calls.js";

const { UNAVAILABLE, INTERNAL } = GrpcStatus;

/** An HTTP/2 session to the agent, authenticated both ways as grpc-js's channel would be. */
export interface H2Agent {
  call<T>(
    ctx: CallContext,
    method: { path: string; name: string; decode: (b: Buffer) => T },
    request: Buffer,
    signal: AbortSignal,
  ): Promise<T>;
  close(): void;
}

/**
 * The controller's TLS on `stream` (the agent's certificate checked against `ca` for
 * `serverName`, ours presented: the same checks as grpc-js's createSsl with a target name
 * override), then HTTP/2 until the agent's SETTINGS arrive: a certificate the agent refuses
 * fails here, at connect, as grpc-js's waitForReady would.
 */
export async function connectH2(
  targetName: string,
  address: string,
  stream: Duplex,
  /** The target's CA, certificate and key, parsed once per CLI run (connect.ts's TLS cache). */
  tls: { readonly secureContext: SecureContext; readonly serverName: string },
  timeoutMs: number,
): Promise<H2Agent> {
  const socket = tlsConnect({
    socket: stream,
    secureContext: tls.secureContext,
    servername: tls.serverName,
    ALPNProtocols: ["h2"],
  });
  const session = h2Connect(`https://${tls.serverName}`, { createConnection: () => socket });
  const timer = setTimeout(
    () => session.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)),
    timeoutMs,
  );
  try {
    // The agent's SETTINGS: it sends them once its handshake accepted our certificate.
    await Promise.race([once(session, "remoteSettings"), once(socket, "close").then(closedEarly)]);
  } catch (e) {
    session.destroy();
    stream.destroy();
    const seconds = Math.round(timeoutMs / 100) / 10;
    throw new AgentCallError(
      targetName,
      UNAVAILABLE,
      `cannot reach the agent at ${address} within ${seconds}s: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    clearTimeout(timer);
  }
  session.on("error", () => undefined); // a call in flight gets the stream's error
  session.unref();
  return {
    call: (ctx, method, request, signal) => unaryH2(session, ctx, method, request, signal),
    close: () => {
      session.destroy();
      stream.destroy();
    },
  };
}

const closedEarly = (): never => {
  throw new Error("the connection closed during the TLS handshake");
};

async function unaryH2<T>(
  session: ClientHttp2Session,
  ctx: CallContext,
  method: { path: string; name: string; decode: (b: Buffer) => T },
  request: Buffer,
  signal: AbortSignal,
): Promise<T> {
  signal.throwIfAborted();
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  request.copy(frame, 5);
  const req = session.request({
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: method.path,
    [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
    [constants.HTTP2_HEADER_TE]: "trailers",
    "grpc-timeout": `${ctx.unaryTimeoutMs}m`,
  });
  const onAbort = () => req.close(constants.NGHTTP2_CANCEL);
  signal.addEventListener("abort", onAbort, { once: true });
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    req.close(constants.NGHTTP2_CANCEL);
  }, ctx.unaryTimeoutMs);
  try {
    const chunks: Buffer[] = [];
    let status: Record<string, unknown> = {};
    req.on("response", (h) => {
      status = h; // a trailers-only answer (an error) carries grpc-status here
    });
    req.on("trailers", (t) => {
      status = t;
    });
    req.end(frame);
    for await (const c of req) chunks.push(c as Buffer);
    return parse(ctx, method, Buffer.concat(chunks), status);
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    if (expired) throw noAnswer(ctx, method.name, e);
    if (e instanceof AgentCallError) throw e;
    throw new AgentCallError(ctx.target.name, UNAVAILABLE, (e as Error).message, { cause: e });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

function parse<T>(
  ctx: CallContext,
  method: { name: string; decode: (b: Buffer) => T },
  body: Buffer,
  headers: Record<string, unknown>,
): T {
  const code = Number(headers["grpc-status"] ?? Number.NaN);
  if (Number.isNaN(code)) {
    throw new AgentCallError(
      ctx.target.name,
      UNAVAILABLE,
      `${method.name}: the stream ended without a status`,
    );
  }
  if (code !== 0) {
    const raw = headers["grpc-message"];
    const details = typeof raw === "string" ? decodeMessage(raw) : "";
    const agentCode = headers[AGENT_ERROR_CODE_KEY];
    throw new AgentCallError(ctx.target.name, code, details, {
      agentCode: typeof agentCode === "string" ? agentCode : undefined,
    });
  }
  // One message: a compressed flag of 0 and its length, as grpc-js's agent sends it.
  const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
  if (body[0] !== 0 || length !== body.length - 5) {
    throw new AgentCallError(ctx.target.name, INTERNAL, `${method.name}: a malformed answer`);
  }
  return method.decode(body.subarray(5));
}

/** grpc-message is percent-encoded (gRPC over HTTP/2). */
function decodeMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
