import type { Duplex } from "node:stream";
import type { SecureContext } from "node:tls";
import type { Target } from "../targets/inventory.js";
import { dialThroughRelay, queryRelay, type RelayEndpoint, RelayRefused } from "./dial.js";
import { type LocalProxy, startLocalProxy } from "./local-proxy.js";

/** A target reached through its relay: gRPC's loopback proxy, and a direct dial for raw streams. */
export interface RelayRoute {
  readonly target: Target;
  readonly proxy: LocalProxy;
  readonly dial: () => Promise<Duplex>;
}

/**
 * `target` reached through its relay: first asks the relay whether the robot
 * is connected (a clear error if not, with when it was last seen), then
 * returns the target as a loopback address that the relay's streams back, and
 * the TLS name the agent's certificate must carry. The caller closes `proxy`.
 * `dial` opens one stream to the agent directly (the raw push channel's: no loopback hop).
 */
export async function viaRelay(
  target: Target & { relay: NonNullable<Target["relay"]> },
  secureContext: SecureContext,
  timeoutMs: number,
): Promise<RelayRoute> {
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
  const dial = () => dialThroughRelay(relay, robot, timeoutMs);
  const proxy = await startLocalProxy(dial);
  const serverName = target.serverName ?? agentHost(target) ?? robot;
  return { target: { ...target, address: proxy.address, serverName }, proxy, dial };
}

/** The host of the agent's own address when the inventory gives one (its certificate names it). */
function agentHost(target: Target): string | undefined {
  if (target.address.startsWith("relay ")) return undefined;
  return target.address.slice(0, target.address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
}
