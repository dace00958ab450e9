import { connect, type TLSSocket } from "node:tls";
import { encodeHeaderLine, RELAY_STREAM_ALPN, readHeaderLine } from "@ros-rollback/proto/relay";
import { notConnected, type RelayEndpoint, RelayRefused, refusalCode, split } from "./dial.js";

/**
 * A dedicated stream to `robot`'s agent: a TLS connection to the relay of its
 * own, which the relay joins to a TLS connection of the robot's own. For the
 * raw push: TLS on a TLS socket runs natively, on an HTTP/2 stream through a
 * JS stream (about a third more CPU for a bulk transfer at both ends).
 */
export async function dialDedicated(
  relay: RelayEndpoint,
  robot: string,
  timeoutMs: number,
): Promise<TLSSocket> {
  const { host, port } = split(relay.address);
  const socket = connect({
    host,
    port,
    ...("secureContext" in relay
      ? { secureContext: relay.secureContext }
      : { ca: relay.ca, cert: relay.cert, key: relay.key }),
    ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
    ALPNProtocols: [RELAY_STREAM_ALPN],
  });
  const timer = setTimeout(
    () => socket.destroy(new Error(`no answer from the relay within ${timeoutMs / 1000}s`)),
    timeoutMs,
  );
  let answer: Record<string, unknown>;
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    socket.write(encodeHeaderLine({ robot }));
    answer = await readHeaderLine(socket, timeoutMs);
  } catch (cause) {
    socket.destroy();
    throw new RelayRefused(
      "UNREACHABLE",
      `cannot reach the relay at ${relay.address}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  } finally {
    clearTimeout(timer);
  }
  if (answer.ok === true) return socket;
  socket.destroy();
  const code = refusalCode(answer.code);
  if (code === "NOT_CONNECTED") throw notConnected(relay, robot, answer.lastSeen);
  throw new RelayRefused(
    code,
    `relay ${relay.address}: ${String(answer.message ?? "refused").slice(0, 300)}`,
  );
}
