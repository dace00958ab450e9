import type { Http2SecureServer, Http2Server, ServerHttp2Session } from "node:http2";
import type { Server } from "@grpc/grpc-js";

/**
 * HTTP/2 receive windows and frame size for the agent's side of every
 * connection. Node's defaults (64 KiB windows) cap a push at window ÷ RTT and,
 * measured on loopback, at about half of what TLS carries.
 */
export interface FlowControl {
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on one stream before we acknowledge. */
  readonly streamWindow: number;
  /** The connection-level window (all streams together). */
  readonly connectionWindow: number;
  /**
   * SETTINGS_MAX_FRAME_SIZE: the largest DATA frame a client may send us. Node's
   * HTTP/2 client (the controller) sends 16 KiB frames whatever this says
   * (bench/README.md); other gRPC stacks may use it.
   */
  readonly maxFrameSize: number;
}

/** 8 MiB per stream covers 20 Mbit/s at ~3 s RTT and 1 Gbit/s at ~60 ms; at most one push runs at a time. */
export const DEFAULT_FLOW_CONTROL: FlowControl = {
  streamWindow: 8 * 1024 * 1024,
  connectionWindow: 16 * 1024 * 1024,
  maxFrameSize: 1024 * 1024,
};

type AnyHttp2Server = Http2Server | Http2SecureServer;
type Http2ServerFactory = (credentials: unknown) => AnyHttp2Server;

/**
 * grpc-js 1.14 has no server option for these (grpc/grpc-node#3058), so this
 * wraps the server's own factory of its HTTP/2 servers; call it before
 * bindAsync. It throws rather than silently keep the slow defaults if a
 * grpc-js upgrade renames that internal.
 */
export function applyFlowControl(server: Server, fc: FlowControl = DEFAULT_FLOW_CONTROL): void {
  if (fc.maxFrameSize < 16_384 || fc.maxFrameSize > 16_777_215) {
    throw new RangeError(`maxFrameSize ${fc.maxFrameSize} is outside 16384..16777215`);
  }
  if (
    fc.streamWindow < 65_535 ||
    fc.connectionWindow < fc.streamWindow ||
    fc.connectionWindow > 2 ** 31 - 1
  ) {
    throw new RangeError(`bad windows: stream ${fc.streamWindow}, connection ${fc.connectionWindow}`);
  }
  const internals = server as unknown as { createHttp2Server?: Http2ServerFactory };
  const create = internals.createHttp2Server;
  if (typeof create !== "function") {
    throw new Error("grpc-js has no Server.createHttp2Server any more: update applyFlowControl");
  }
  internals.createHttp2Server = (credentials) => {
    const http2Server = create.call(server, credentials);
    // Merged into the settings grpc-js passed (e.g. maxConcurrentStreams); sent in every session's SETTINGS.
    http2Server.updateSettings({ initialWindowSize: fc.streamWindow, maxFrameSize: fc.maxFrameSize });
    http2Server.on("session", (session: ServerHttp2Session) => {
      session.setLocalWindowSize(fc.connectionWindow);
    });
    return http2Server;
  };
}
