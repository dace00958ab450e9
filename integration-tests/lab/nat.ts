// A robot behind NAT (`up NAME --nat`): nothing connects in (nftables in its namespace drops every
// new inbound connection; replies to its own connections pass), its agent dials out to the lab
// relay, and its inventories route through the relay. Its agent keeps its port: a direct
// connection fails because of the network, as behind a real NAT, not because nothing listens.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  addressFor,
  type LabRobotRelay,
  netnsName,
  ROBOT_IFACE,
  type RobotPaths,
  type TlsFiles,
} from "./config.js";
import type { RobotKeys } from "./pki.js";
import { LabError, run } from "./proc.js";
import { type LabRelay, relayUp } from "./relay.js";
import { RELAY_CONTROLLER_PORT, RELAY_METRICS_PORT, RELAY_ROBOT_PORT } from "./relay-layout.js";
import { ensureRelayPki, ensureRelayRobotCert, type RelayPki } from "./relay-pki.js";

/** In the robot: the relay's CA and the robot's certificate at the relay. */
const TLS_DIR = "/etc/ros-rollback/tls";
const IN_ROBOT = {
  caFile: `${TLS_DIR}/relay-ca.pem`,
  certFile: `${TLS_DIR}/relay-robot.pem`,
  keyFile: `${TLS_DIR}/relay-robot.key`,
};

export interface LabNat {
  readonly relay: LabRelay;
  readonly pki: RelayPki;
  /** The robot's certificate at the relay (CN = its name), on the host. */
  readonly robotCert: TlsFiles;
}

const marker = (paths: RobotPaths): string => join(paths.dir, "nat");

/** Whether the robot was booted behind NAT (it keeps that until `down`). */
export const isNat = (paths: RobotPaths): boolean => existsSync(marker(paths));

interface Opts {
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** `up` of a running robot: it keeps what it booted with; a NAT'd one gets its relay (started if down). */
export async function natOfRunning(
  name: string,
  paths: RobotPaths,
  wanted: boolean,
  opts: Opts,
): Promise<NatView | undefined> {
  if (wanted && !isNat(paths))
    throw new LabError(`robot ${name} is running without NAT: down it first to up it with --nat`);
  if (!isNat(paths)) return undefined;
  await prepareNat(name, paths, opts);
  return natView(name, opts);
}

/** Before a boot: behind NAT (relay up, inbound dropped) or not (an earlier NAT'd boot's rule gone). */
export async function natForBoot(
  name: string,
  paths: RobotPaths,
  wanted: boolean,
  opts: Opts,
): Promise<LabNat | undefined> {
  if (!wanted) {
    if (isNat(paths)) await allowInbound(name, paths, opts);
    return undefined;
  }
  const nat = await prepareNat(name, paths, opts);
  await blockInbound(name, opts);
  return nat;
}

/** The relay (started unless it runs) and the robot's certificate for it; marks the robot NAT'd. */
async function prepareNat(name: string, paths: RobotPaths, opts: Opts): Promise<LabNat> {
  const relay = await relayUp(opts);
  const robotCert = await ensureRelayRobotCert(paths.pki, name, opts);
  writeFileSync(marker(paths), "");
  return { relay, pki: await ensureRelayPki(opts), robotCert };
}

/** The agent config's `dialOut`: robot K reaches the host's relay at its veth's host end. */
export function natDialOut(index: number): Record<string, string>[] {
  return [{ relay: `${addressFor(index).host}:${RELAY_ROBOT_PORT}`, ...IN_ROBOT }];
}

/**
 * The relay's files in the robot, and the agent's client CA: its own CA and the lab controllers'
 * CA (whose certificates the relay accepts and the NAT'd robot's inventory presents), with a CRL
 * for each (the agent refuses a client whose CA has none).
 */
export function writeNatFiles(
  root: string,
  nat: LabNat,
  keys: RobotKeys,
  write: (file: string, text: Buffer, mode?: number) => void,
): void {
  const tls = join(root, TLS_DIR);
  write(join(tls, "relay-ca.pem"), readFileSync(nat.relay.caFile));
  write(join(tls, "relay-robot.pem"), readFileSync(nat.robotCert.certFile));
  write(join(tls, "relay-robot.key"), readFileSync(nat.robotCert.keyFile), 0o600);
  write(join(tls, "ca.pem"), Buffer.concat([readFileSync(keys.ca), readFileSync(nat.pki.controllersCa)]));
  write(join(tls, "crl.pem"), Buffer.concat([readFileSync(keys.crl), readFileSync(nat.pki.controllersCrl)]));
}

const BLOCK = `table inet lab_nat {}
flush table inet lab_nat
table inet lab_nat {
  chain input {
    type filter hook input priority 0; policy accept;
    ct state established,related accept
    iifname "${ROBOT_IFACE}" ct state new drop
  }
}
`;

/** Drops every new connection into the robot (idempotent: the table is replaced). */
export async function blockInbound(name: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  await nft(name, BLOCK, opts);
}

/** Lets connections in again (a robot booted without --nat in a namespace that had the rule). */
async function allowInbound(
  name: string,
  paths: RobotPaths,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  await nft(name, "table inet lab_nat {}\ndelete table inet lab_nat\n", opts);
  rmSync(marker(paths), { force: true });
}

async function nft(name: string, rules: string, opts: { signal?: AbortSignal }): Promise<void> {
  await run("ip", ["netns", "exec", netnsName(name), "nft", "-f", "-"], {
    input: rules,
    timeoutMs: 10_000,
    signal: opts.signal,
  }).catch((e: unknown) => {
    throw new LabError(`robot ${name}: nftables (apt-get install nftables): ${(e as Error).message}`, {
      cause: e,
    });
  });
}

/** What a NAT'd robot's inventories and `up`'s line say: the route, and the lab controllers' certificates. */
export interface NatView {
  readonly route: LabRobotRelay;
  readonly operator: { readonly certFile: string; readonly keyFile: string };
  readonly reader: { readonly certFile: string; readonly keyFile: string };
}

/** Needs the relay's keys, not the relay: a robot restarted while the relay is down keeps its route. */
export async function natView(name: string, opts: { signal?: AbortSignal } = {}): Promise<NatView> {
  const pki = await ensureRelayPki(opts);
  return {
    route: { address: `127.0.0.1:${RELAY_CONTROLLER_PORT}`, name, caFile: pki.relayCa },
    operator: pki.operator,
    reader: pki.reader,
  };
}

/** An inventory whose target is reached through the relay (no `address`: the robot takes no connection in). */
export function relayInventory(
  name: string,
  route: LabRobotRelay,
  robotCa: string,
  client: { certFile: string; keyFile: string },
): string {
  const target = {
    relay: route.address,
    relayName: route.name,
    relayCaFile: route.caFile,
    caFile: robotCa,
    ...client,
    serverName: name,
  };
  return `${JSON.stringify({ targets: { [name]: target } }, null, 2)}\n`;
}

/** The robot's metrics as the relay serves them (a NAT'd robot's own port is unreachable). */
export const natMetrics = (name: string): string =>
  `http://127.0.0.1:${RELAY_METRICS_PORT}/robots/${name}/metrics`;
