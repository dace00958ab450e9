import { isIP } from "node:net";
import { connect, type TLSSocket } from "node:tls";
import {
  BadFrame,
  decodeRawPushError,
  decodeRawPushProgress,
  FRAME,
  FrameReader,
  frameHeader,
  MAX_RESULT_FRAME,
  PROGRESS_FRAME_BYTES,
  type PushPathsRequest,
  PushPathsResponse,
  RAW_PUSH_ALPN_V2,
  RAW_PUSH_ALPNS,
  type RawPushProgress,
  serializePushPathsRequest,
  takeDataFrame,
} from "@ros-rollback/proto";
import type { RawPushEndpoint } from "../../agent-api/push-via.js";
import { settlesWithin } from "../../core/settles-within.js";

export type { RawPushEndpoint } from "../../agent-api/push-via.js";

export interface RawPushOptions {
  readonly connectTimeoutMs: number;
  /** How long the agent may take to read more, or to answer once all is sent. */
  readonly answerTimeoutMs: number;
  readonly onWritten?: (request: PushPathsRequest) => void;
  /** The agent took the raw channel; called before the first request is read. `progress`: it sends PROGRESS (version 2). */
  readonly onOpen?: (progress: boolean) => void;
  /** Each PROGRESS frame: what the agent has consumed so far. */
  readonly onProgress?: (progress: RawPushProgress) => void;
}

/** The agent ended the push with this status (as PushPaths over gRPC would have). */
export class RawPushStatus extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly agentCode: string | undefined,
  ) {
    super(details);
    this.name = "RawPushStatus";
  }
}

/** The agent stopped reading, or did not answer in time. */
export class RawPushNoAnswer extends Error {
  constructor(readonly what: string) {
    super(`no answer to ${what}`);
    this.name = "RawPushNoAnswer";
  }
}

/** The connection broke or the agent's answer is not this protocol's. */
export class RawPushBroken extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RawPushBroken";
  }
}

export type RawPushOutcome =
  | { readonly kind: "pushed"; readonly response: PushPathsResponse }
  /** No raw channel (an older agent, or no connection): nothing of `requests` was read. */
  | { readonly kind: "unsupported"; readonly why: string };

const ANSWER_LIMITS: ReadonlyMap<number, number> = new Map([
  [FRAME.RESULT, MAX_RESULT_FRAME],
  [FRAME.ERROR, 64 * 1024],
]);
/** Version 2: PROGRESS frames before the answer. */
const ANSWER_LIMITS_V2: ReadonlyMap<number, number> = new Map([
  ...ANSWER_LIMITS,
  [FRAME.PROGRESS, PROGRESS_FRAME_BYTES],
]);

/**
 * PushPaths over the agent's raw channel (proto/src/raw-push.ts): the same
 * requests, framed on a bare mTLS stream instead of HTTP/2.
 */
export async function rawPush(
  endpoint: RawPushEndpoint,
  requests: AsyncIterable<PushPathsRequest>,
  signal: AbortSignal,
  o: RawPushOptions,
): Promise<RawPushOutcome> {
  signal.throwIfAborted();
  let socket: TLSSocket;
  try {
    socket = await open(endpoint, o.connectTimeoutMs, signal);
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    return { kind: "unsupported", why: (e as Error).message };
  }
  if (typeof socket.alpnProtocol !== "string" || !RAW_PUSH_ALPNS.includes(socket.alpnProtocol)) {
    socket.destroy();
    return { kind: "unsupported", why: "the agent does not offer it" };
  }
  const v2 = socket.alpnProtocol === RAW_PUSH_ALPN_V2;
  o.onOpen?.(v2);
  // Errors surface through the answer and the writes; a late one (the agent hung up) must not throw.
  socket.on("error", () => undefined);
  const onAbort = () => socket.destroy();
  signal.addEventListener("abort", onAbort, { once: true });
  const answer = readAnswer(socket, v2, o.onProgress);
  let answered = false;
  answer
    .finally(() => {
      answered = true;
    })
    .catch(() => undefined);
  try {
    try {
      for await (const request of requests) {
        if (answered) break; // the agent refused early: its answer says why
        if (!write(socket, request, o.onWritten)) {
          const drained = new Promise<void>((resolve) => socket.once("drain", () => resolve()));
          if (!(await settlesWithin(Promise.race([drained, answer]), o.answerTimeoutMs))) {
            throw new RawPushNoAnswer("PushPaths (it stopped reading the push)");
          }
        }
      }
    } catch (e) {
      // Our producer failed or gave up: without END the agent registers nothing half-sent.
      socket.destroy();
      throw signal.aborted ? signal.reason : e;
    }
    if (!answered) socket.write(frameHeader(FRAME.END, 0));
    if (!(await settlesWithin(answer, o.answerTimeoutMs))) {
      throw new RawPushNoAnswer("PushPaths (after the last byte)");
    }
    return { kind: "pushed", response: await answer };
  } catch (e) {
    throw signal.aborted ? signal.reason : e;
  } finally {
    signal.removeEventListener("abort", onAbort);
    socket.destroy();
  }
}

function write(socket: TLSSocket, m: PushPathsRequest, onWritten: RawPushOptions["onWritten"]): boolean {
  const done = (e?: Error | null) => {
    if (e == null) onWritten?.(m);
  };
  if (m.item?.$case === "chunk") {
    // One buffer: TLS joins the buffers of one write by copying them (the whole chunk).
    const frame = takeDataFrame(m);
    if (frame !== undefined) return socket.write(frame, done);
    const data = m.item.value.data;
    socket.cork();
    socket.write(frameHeader(FRAME.DATA, data.length));
    const ok = socket.write(data, done);
    socket.uncork();
    return ok;
  }
  const body = serializePushPathsRequest(m);
  return socket.write(Buffer.concat([frameHeader(FRAME.MESSAGE, body.length), body]), done);
}

async function open(endpoint: RawPushEndpoint, timeoutMs: number, signal: AbortSignal): Promise<TLSSocket> {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(endpoint.address);
  const host = m?.[1] ?? m?.[2];
  if (m === null || host === undefined) throw new Error(`bad address ${endpoint.address}`);
  const servername = endpoint.serverName ?? (isIP(host) === 0 ? host : undefined);
  const tls = {
    ...(servername === undefined ? {} : { servername }),
    ca: endpoint.ca,
    cert: endpoint.cert,
    key: endpoint.key,
    ALPNProtocols: [...RAW_PUSH_ALPNS, "h2"],
  };
  const deadline = Date.now() + timeoutMs;
  // The relay's stream, when there is one: the dial has its own timeout (the connect's).
  const stream = endpoint.dial === undefined ? undefined : await endpoint.dial();
  if (stream !== undefined && signal.aborted) {
    stream.destroy();
    throw signal.reason;
  }
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket =
      stream === undefined
        ? connect({ host, port: Number(m[3]), ...tls })
        : connect({ socket: stream, ...tls });
    // Ending the push ends the relay's stream too (the agent sees the close either way).
    if (stream !== undefined) socket.once("close", () => stream.destroy());
    const fail = (e: unknown) => {
      cleanup();
      socket.destroy();
      stream?.destroy();
      reject(e);
    };
    const onAbort = () => fail(signal.reason);
    const timer = setTimeout(
      () => fail(new Error(`no TLS connection within ${timeoutMs} ms`)),
      Math.max(0, deadline - Date.now()),
    );
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.off("error", fail);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      cleanup();
      resolve(socket);
    });
  });
}

/** The agent's one RESULT or ERROR frame; on version 2, PROGRESS frames before it. */
async function readAnswer(
  socket: TLSSocket,
  v2: boolean,
  onProgress: ((p: RawPushProgress) => void) | undefined,
): Promise<PushPathsResponse> {
  const reader = new FrameReader(v2 ? ANSWER_LIMITS_V2 : ANSWER_LIMITS);
  let last: RawPushProgress = { wireBytes: 0, narBytes: 0, waitedUs: 0 };
  try {
    for await (const input of socket.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      for (const part of reader.push(input)) {
        if (part.kind !== "frame") continue;
        if (part.type === FRAME.RESULT) return PushPathsResponse.decode(part.payload);
        if (part.type === FRAME.PROGRESS) {
          const p = decodeRawPushProgress(part.payload);
          if (p === undefined) throw new RawPushBroken("the agent's progress frame is not readable");
          if (p.wireBytes < last.wireBytes || p.narBytes < last.narBytes || p.waitedUs < last.waitedUs) {
            throw new RawPushBroken("the agent's progress went backwards");
          }
          last = p;
          onProgress?.(p);
          continue;
        }
        const status = decodeRawPushError(part.payload);
        if (status === undefined) throw new RawPushBroken("the agent's error frame is not readable");
        throw new RawPushStatus(status.code, status.details, status.agentCode);
      }
    }
  } catch (e) {
    if (e instanceof RawPushStatus || e instanceof RawPushBroken) throw e;
    const why = e instanceof BadFrame ? `not a raw push answer: ${e.message}` : (e as Error).message;
    throw new RawPushBroken(`the raw push connection broke: ${why}`, { cause: e });
  }
  throw new RawPushBroken("the agent closed the raw push connection without an answer");
}
