import type { SecureContext } from "node:tls";
import type { Target } from "../targets/inventory.js";
import { dialThroughRelay, queryRelay, type RelayEndpoint, RelayRefused } from "./dial.js";
import { type LocalProxy, startLocalProxy } from "./local-proxy.js";
/**
 * `target` reached through its relay: first asks the relay whether the robot
 * is connected (a clear error if not, with when it was last seen), then
 * returns the target as a loopback address that the relay's streams back, and
 * the TLS name the agent's certificate must carry. The caller closes `proxy`.
 */
export async function viaRelay(
  target: Target & { relay: NonNullable<Target["relay"]> },
  secureContext: SecureContext,
  timeoutMs: number,
): Promise<{ target: Target; proxy: LocalProxy }> {
  const relay: RelayEndpoint = { address: target.relay.address, secureContext };
  const robot = target.relay.name;
  const [state] = await queryRelay(relay, [robot], timeoutMs);
  if (state === undefined || !state.connected) {
    const seen = state?.lastSeen ? `; last seen ${state.lastSeen}` : "; not seen since the relay started";
    throw new RelayRefused(
      "NOT_CONNECTED",
      `${robot} is not connected to the relay at ${relay.address}${seen}`,
    );
  }
  const proxy = await startLocalProxy(() => dialThroughRelay(relay, robot, timeoutMs));
  const serverName = target.serverName ?? agentHost(target) ?? robot;
  return { target: { ...target, address: proxy.address, serverName }, proxy };
}

/** The host of the agent's own address when the inventory gives one (its certificate names it). */
function agentHost(target: Target): string | undefined {
  if (target.address.startsWith("relay ")) return undefined;
  return target.address.slice(0, target.address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
}
