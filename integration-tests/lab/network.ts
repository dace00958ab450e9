// The robot's network: its own namespace, joined to the host by a veth pair on 10.231.K.0/24.
import { existsSync } from "node:fs";
import { addressFor, hostIface, netnsName, peerIface, ROBOT_IFACE } from "./config.js";
import { run } from "./proc.js";

interface Opts {
  signal?: AbortSignal;
}

const ip = (args: string[], opts: Opts & { check?: boolean } = {}) =>
  run("ip", args, { timeoutMs: 10_000, signal: opts.signal, check: opts.check ?? true });

async function linkExists(args: string[], opts: Opts): Promise<boolean> {
  return (await ip([...args], { ...opts, check: false })).code === 0;
}

/** Creates the namespace and veth pair unless they are already up as expected. */
export async function ensureNetwork(name: string, index: number, opts: Opts = {}): Promise<void> {
  const ns = netnsName(name);
  const addr = addressFor(index);
  const complete =
    existsSync(`/run/netns/${ns}`) &&
    (await linkExists(["link", "show", "dev", hostIface(index)], opts)) &&
    (await linkExists(["-n", ns, "link", "show", "dev", ROBOT_IFACE], opts));
  if (complete) return;
  await removeNetwork(name, index, opts);
  await ip(["netns", "add", ns], opts);
  await ip(["link", "add", hostIface(index), "type", "veth", "peer", "name", peerIface(index)], opts);
  await ip(["link", "set", peerIface(index), "netns", ns], opts);
  await ip(["-n", ns, "link", "set", peerIface(index), "name", ROBOT_IFACE], opts);
  await ip(["-n", ns, "addr", "add", `${addr.robot}/${addr.prefix}`, "dev", ROBOT_IFACE], opts);
  await ip(["-n", ns, "link", "set", ROBOT_IFACE, "up"], opts);
  await ip(["-n", ns, "link", "set", "lo", "up"], opts);
  await ip(["addr", "add", `${addr.host}/${addr.prefix}`, "dev", hostIface(index)], opts);
  await ip(["link", "set", hostIface(index), "up"], opts);
}

/** Deletes the namespace (which takes the robot's veth end, and so the pair, with it). Idempotent. */
export async function removeNetwork(name: string, index: number | undefined, opts: Opts = {}): Promise<void> {
  if (index !== undefined) await ip(["link", "del", hostIface(index)], { ...opts, check: false });
  await ip(["netns", "del", netnsName(name)], { ...opts, check: false });
}
