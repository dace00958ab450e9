import type { Duplex } from "node:stream";
import type { Target } from "../targets/inventory.js";
import { bulkDialer } from "./dedicated.js";
import type { RelayClient } from "./dial.js";
import { type LocalProxy, startLocalProxy } from "./local-proxy.js";

/** A target reached through its relay: gRPC's loopback proxy, and a direct dial for raw streams. */
export interface RelayRoute {
  readonly target: Target;
  readonly proxy: LocalProxy;
  /** A stream to the agent on the relay connection, no loopback hop. */
  readonly dial: () => Promise<Duplex>;
  /** The raw push's: a dedicated connection to the agent (its own TCP connection on both legs), else `dial`'s. */
  readonly dialBulk: () => Promise<Duplex>;
  /** The stream of the dial that proved the robot connected. */
  readonly first: Duplex;
}

/**
 * `target` reached through its relay (`relay`: the client for its address): dials the robot once (the relay's
 * refusal is the clear error: not connected, and when last seen), and
 * returns that stream (`first`, for the caller's own TLS: connect.ts's
 * HTTP/2), the target as a loopback address whose every connection is a new
 * stream (gRPC's), and the TLS name the agent's certificate must carry. The
 * caller closes `proxy`.
 */
export async function viaRelay(
  target: Target & { relay: NonNullable<Target["relay"]> },
  relay: RelayClient,
  timeoutMs: number,
): Promise<RelayRoute> {
  const robot = target.relay.name;
  const serverName = target.serverName ?? agentHost(target) ?? robot;
  const dial = () => relay.dial(robot, timeoutMs);
  const first = await dial();
  const proxy = await startLocalProxy(dial);
  const dialBulk = bulkDialer(relay, robot, timeoutMs, dial);
  return { target: { ...target, address: proxy.address, serverName }, proxy, dial, dialBulk, first };
}

/** The host of the agent's own address when the inventory gives one (its certificate names it). */
function agentHost(target: Target): string | undefined {
  if (target.address.startsWith("relay ")) return undefined;
  return target.address.slice(0, target.address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
}
