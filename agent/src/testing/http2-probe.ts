import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import type { TestPki } from "@ros-rollback/proto/testing";

export interface Http2Probe {
  /** SETTINGS_INITIAL_WINDOW_SIZE the server announced. */
  readonly initialWindowSize: number | undefined;
  readonly maxFrameSize: number | undefined;
  readonly maxConcurrentStreams: number | undefined;
  /** What this client may send on the connection before the server's next WINDOW_UPDATE. */
  readonly connectionWindow: number;
}

/**
 * Opens a raw HTTP/2 + mTLS session to a server on 127.0.0.1 and reads what
 * the server granted: its SETTINGS, and (after a PING round trip, so any
 * WINDOW_UPDATE sent with them has arrived) the connection window.
 */
export async function probeHttp2(port: number, pki: TestPki): Promise<Http2Probe> {
  const session = connect(`https://127.0.0.1:${port}`, {
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
    servername: "localhost",
    ALPNProtocols: ["h2"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      session.once("error", reject);
    });
    await new Promise<void>((resolve, reject) => {
      session.ping((err) => (err ? reject(err) : resolve()));
    });
    return {
      initialWindowSize: session.remoteSettings.initialWindowSize,
      maxFrameSize: session.remoteSettings.maxFrameSize,
      maxConcurrentStreams: session.remoteSettings.maxConcurrentStreams,
      connectionWindow: session.state.remoteWindowSize ?? 0,
    };
  } finally {
    session.destroy();
  }
}
