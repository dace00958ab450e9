import type { SecureContext } from "node:tls";
import type { Target } from "../targets/inventory.js";
import {
  dialThroughRelay,
  notConnected,
  queryRelay,
  type RelayEndpoint,
  type RelaySessions,
} from "./dial.js";
import { type LocalProxy, startLocalProxy } from "./local-proxy.js";
/** How viaRelay talks to the relay; `legacy` is the bench's "before" (a query, then the dial; no resumption). */
export interface RelayRoute {
  readonly secureContext: SecureContext;
  readonly sessions?: RelaySessions;
  readonly legacy?: boolean;
}

/**
 * `target` reached through its relay: dials the robot once (the relay's
 * refusal is the clear error: not connected, and when last seen), then
 * returns the target as a loopback address that this stream and later ones
 * back, and the TLS name the agent's certificate must carry. The caller
 * closes `proxy`.
 */
export async function viaRelay(
  target: Target & { relay: NonNullable<Target["relay"]> },
  route: RelayRoute,
  timeoutMs: number,
): Promise<{ target: Target; proxy: LocalProxy }> {
  const relay: RelayEndpoint = {
    address: target.relay.address,
    secureContext: route.secureContext,
    ...(route.legacy === true || route.sessions === undefined ? {} : { sessions: route.sessions }),
  };
  const robot = target.relay.name;
  const serverName = target.serverName ?? agentHost(target) ?? robot;
  if (route.legacy !== true) {
    const first = await dialThroughRelay(relay, robot, timeoutMs);
    const proxy = await startLocalProxy(() => dialThroughRelay(relay, robot, timeoutMs), first);
    return { target: { ...target, address: proxy.address, serverName }, proxy };
  }
  const [state] = await queryRelay(relay, [robot], timeoutMs);
  if (state === undefined || !state.connected) throw notConnected(relay, robot, state?.lastSeen);
  const proxy = await startLocalProxy(() => dialThroughRelay(relay, robot, timeoutMs));
  return { target: { ...target, address: proxy.address, serverName }, proxy };
}

/** The host of the agent's own address when the inventory gives one (its certificate names it). */
function agentHost(target: Target): string | undefined {
  if (target.address.startsWith("relay ")) return undefined;
  return target.address.slice(0, target.address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
}
