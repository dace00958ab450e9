import type { TLSSocket } from "node:tls";
import {
  encodeRawPushError,
  FRAME,
  frameHeader,
  PushPathsResponse,
  RAW_PUSH_ALPN_V2,
} from "@ros-rollback/proto";
import type { Logger } from "pino";
import type { StorePort } from "../../store/store-port.js";
import { socketPushClient } from "../client-identity.js";
import { agentStatus } from "../status.js";
import { progressFrames, timedReads } from "./progress.js";
import { rawPushRequests } from "./requests.js";

/** After answering, how long the client may take to hang up before we cut it. */
const LINGER_MS = 5_000;

/**
 * One push over the raw channel: the same receivePush (push slots, checks,
 * metrics) as gRPC's PushPaths, then one RESULT or ERROR frame. The client
 * going away before END aborts the push like a cancelled call. On version 2
 * (ALPN), PROGRESS frames go back while the push is consumed.
 */
export function serveRawPush(
  socket: TLSSocket,
  store: Pick<StorePort, "receivePush">,
  log: Logger,
): Promise<void> {
  const ac = new AbortController();
  let answered = false;
  socket.on("error", (e) => log.debug({ err: e }, "raw push connection error"));
  socket.once("close", () => {
    if (!answered) ac.abort(new Error("the controller closed the connection"));
  });
  // Not destroyed when the push stops reading: the answer goes back on it.
  const socketBytes = socket.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
  // Not after the answer (a late count from the pipeline): RESULT or ERROR is the last frame.
  const v2 = socket.alpnProtocol === RAW_PUSH_ALPN_V2;
  const reads = timedReads(socketBytes);
  const bytes = v2 ? reads.bytes : socketBytes;
  const progress = v2
    ? progressFrames((frame) => {
        if (!answered && socket.writable) socket.write(frame);
      }, reads.waitedUs)
    : undefined;
  return store.receivePush(rawPushRequests(bytes), ac.signal, progress, socketPushClient(socket)).then(
    (res) => {
      answered = true;
      const body = Buffer.from(PushPathsResponse.encode(res).finish());
      socket.end(Buffer.concat([frameHeader(FRAME.RESULT, body.length), body]));
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    },
    (e: unknown) => {
      answered = true;
      answerError(socket, e, log);
    },
  );
}

/** A raw push connection refused before any of its bytes is read: one ERROR frame, then hang up. */
export function refuseRawPush(socket: TLSSocket, error: unknown, log: Logger): void {
  socket.on("error", (e) => log.debug({ err: e }, "raw push connection error"));
  answerError(socket, error, log);
}

function answerError(socket: TLSSocket, error: unknown, log: Logger): void {
  // Stop reading (the client may still be sending); it hangs up once it has the error.
  socket.pause();
  socket.end(encodeRawPushError(agentStatus(error, log, "PushPaths (raw)")));
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
