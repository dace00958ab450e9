import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { encodeHeaderLine, readHeaderLine } from "@ros-rollback/proto/relay";
import { type RelayClient, RelayRefused, refusalCode, split } from "./dial.js";

/**
 * A dedicated connection to an agent (the raw push's): plain TCP to the relay
 * carrying `ticket` (from RelayClient.ticket), which the relay joins to the
 * robot's own. The caller's TLS to the agent runs inside, so the legs need
 * none of their own (see proto's relay-wire.ts: a push through the relay
 * costs ~1.1× direct, not ~1.4×).
 */
export async function joinDedicated(address: string, ticket: string, timeoutMs: number): Promise<Socket> {
  const { host, port } = split(address);
  const socket = connect({ host, port, noDelay: true });
  const timer = setTimeout(
    () => socket.destroy(new Error(`no answer from the relay within ${timeoutMs / 1000}s`)),
    timeoutMs,
  );
  let answer: Record<string, unknown>;
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.write(encodeHeaderLine({ ticket }));
    answer = await readHeaderLine(socket, timeoutMs);
  } catch (cause) {
    socket.destroy();
    throw new RelayRefused(
      "UNREACHABLE",
      `cannot reach the relay at ${address}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  } finally {
    clearTimeout(timer);
  }
  if (answer.ok === true) return socket;
  socket.destroy();
  throw new RelayRefused(
    refusalCode(answer.code),
    `relay ${address}: ${String(answer.message ?? "refused").slice(0, 300)}`,
  );
}

/**
 * The raw push's byte stream to `robot`'s agent: a dedicated connection, or,
 * once one could not be made, a stream on the shared connections (a robot
 * behind an egress firewall that passes only TLS cannot open the robot's
 * half; a push there costs more CPU, which an LTE link never shows).
 */
export function bulkDialer(
  relay: RelayClient,
  robot: string,
  timeoutMs: number,
  shared: () => Promise<Duplex>,
) {
  let dedicated = true;
  return async (): Promise<Duplex> => {
    if (!dedicated) return shared();
    const ticket = await relay.ticket(robot, timeoutMs);
    try {
      return await joinDedicated(relay.address, ticket, timeoutMs);
    } catch {
      dedicated = false;
      return shared();
    }
  };
}
