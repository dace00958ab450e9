// The lab robot's lifecycle: up, down, restart, exec, and waiting for its agent.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { cacheForRobot } from "./cache.js";
import {
  AGENT_CONFIG,
  AGENT_HOLD_DIR,
  AGENT_UNIT,
  addressFor,
  agentConfig,
  agentUnit,
  FLEET_KEY_DIR,
  HOLD_GROUP,
  HOLD_TMPFILES,
  holdDirRule,
  LAB_BOOT_UNIT,
  type LabHoldCondition,
  type LabRobot,
  labBootUnit,
  MAX_INDEX,
  METRICS_PORT,
  REPO_ROOT,
  type RobotPaths,
  robotPaths,
  STATE_DIR,
  withGroup,
} from "./config.js";
import {
  type ExecOptions,
  initPid,
  nsenter,
  nspawnPid,
  startContainer,
  stopContainer,
  waitForBoot,
} from "./container.js";
import { checkDiskSizes, type DiskSizes, mountDisks, unmountDisks } from "./disks.js";
import { blockInbound, isNat, natDialOut, natForBoot, natOfRunning, natView, writeNatFiles } from "./nat.js";
import { ensureNetwork, removeNetwork } from "./network.js";
import { ensureFleetKey, ensureKeys, type RobotKeys } from "./pki.js";
import { LabError, run } from "./proc.js";
import { describeRobot, writeInventories } from "./robot-view.js";
import { ensureRootfs } from "./rootfs.js";
import { setUpSsh } from "./ssh.js";

export interface UpOptions {
  signal?: AbortSignal;
  /** Bound for the boot, until `systemctl is-system-running` says running or degraded. Default 90 s. */
  bootTimeoutMs?: number;
  /** Bound for a cold rootfs build. Default 20 min. */
  rootfsTimeoutMs?: number;
  /** Install the agent's unit (needs agent/dist/main.js). Default true. */
  agent?: boolean;
  /** Progress lines (the CLI sends them to stderr). */
  log?: (line: string) => void;
  /** Substitute from the lab cache (`cache up` first): its URL in substituters, its key trusted. */
  cache?: boolean;
  /** Hold conditions in the agent config (default none); a running robot keeps the ones it booted with. */
  holdConditions?: readonly LabHoldCondition[];
  /** Start sshd: root logs in with the lab's key (LabRobot.ssh says how). Default false. */
  ssh?: boolean;
  /** Behind NAT: nothing connects in, the agent dials out to the lab relay (started if down). Default false. */
  nat?: boolean;
  /** Bytes of the ext4 disks under the robot's /nix and /boot (default: none, the root's space); kept until down. */
  disks?: DiskSizes;
}

const AGENT_MAIN = join(REPO_ROOT, "agent", "dist", "main.js");
const INDEX_DIR = join(STATE_DIR, "index");

export function readIndex(paths: RobotPaths): number | undefined {
  if (!existsSync(paths.indexFile)) return undefined;
  return Number(readFileSync(paths.indexFile, "utf8").trim());
}

/** Claims the lowest free K in STATE_DIR/index (exclusive create, so concurrent ups don't collide). */
function allocateIndex(name: string, paths: RobotPaths): number {
  const existing = readIndex(paths);
  if (existing !== undefined) return existing;
  mkdirSync(INDEX_DIR, { recursive: true });
  mkdirSync(paths.dir, { recursive: true });
  for (let k = 1; k <= MAX_INDEX; k++) {
    const claim = join(INDEX_DIR, String(k));
    try {
      writeFileSync(claim, name, { flag: "wx" });
    } catch {
      const owner = readFileSync(claim, "utf8").trim();
      if (owner !== name && existsSync(robotPaths(owner).indexFile)) continue;
      writeFileSync(claim, name);
    }
    writeFileSync(paths.indexFile, `${k}\n`);
    return k;
  }
  throw new LabError(`no free robot index (all ${MAX_INDEX} taken under ${INDEX_DIR})`);
}

function mountedAt(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4] === path);
}

async function mountRoot(paths: RobotPaths, lower: string, signal?: AbortSignal): Promise<void> {
  if (mountedAt(paths.root)) return;
  for (const d of [paths.upper, paths.work, paths.root]) mkdirSync(d, { recursive: true });
  const options = `lowerdir=${lower},upperdir=${paths.upper},workdir=${paths.work}`;
  await run("mount", ["-t", "overlay", "overlay", "-o", options, paths.root], { timeoutMs: 10_000, signal });
}

function writeFile(file: string, text: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** Files the robot needs before it boots: host name, bind-mount targets, the agent's config, keys and unit. */
function writeRobotFiles(
  name: string,
  root: string,
  keys: RobotKeys,
  fleetKey: string,
  agent: boolean,
  index: number,
  cache?: { url: string; publicKey: string },
  holdConditions?: readonly LabHoldCondition[],
  dialOut?: readonly Record<string, string>[],
): void {
  writeFile(join(root, "etc/hostname"), `${name}\n`);
  // The hold dir as the NixOS module makes it: tmpfiles (outlives agent restarts), the hold group.
  const group = join(root, "etc/group");
  writeFile(group, withGroup(readFileSync(group, "utf8"), HOLD_GROUP));
  writeFile(join(root, HOLD_TMPFILES), `${holdDirRule(AGENT_HOLD_DIR, HOLD_GROUP)}\n`);
  mkdirSync(join(root, "opt/ros-rollback/app"), { recursive: true });
  writeFile(join(root, "opt/ros-rollback/node"), "", 0o755);
  writeFile(
    join(root, AGENT_CONFIG),
    agentConfig(
      [keys.publicKey, fleetKey],
      `${addressFor(index).robot}:${METRICS_PORT}`,
      cache,
      holdConditions,
      dialOut,
    ),
  );
  const tls = join(root, "etc/ros-rollback/tls");
  writeFile(join(tls, "ca.pem"), readFileSync(keys.ca));
  writeFile(join(tls, "agent.pem"), readFileSync(keys.agent.certFile));
  writeFile(join(tls, "agent.key"), readFileSync(keys.agent.keyFile), 0o600);
  writeFile(join(tls, "crl.pem"), readFileSync(keys.crl));
  installUnit(root, LAB_BOOT_UNIT, labBootUnit());
  installUnit(root, AGENT_UNIT, agent ? agentUnit() : undefined);
}

/** Writes and enables a unit in the robot's /etc (or removes it when text is undefined). */
function installUnit(root: string, unit: string, text: string | undefined): void {
  const file = join(root, "etc/systemd/system", unit);
  const wants = join(root, "etc/systemd/system/multi-user.target.wants", unit);
  rmSync(wants, { force: true });
  if (text === undefined) {
    rmSync(file, { force: true });
    return;
  }
  writeFile(file, text);
  symlinkSync(`../${unit}`, wants);
}

/** Boots the robot NAME (building the rootfs once), or describes it if it is already running. */
export async function labUp(name: string, opts: UpOptions = {}): Promise<LabRobot> {
  const paths = robotPaths(name);
  const agent = opts.agent ?? true;
  if (agent && !existsSync(AGENT_MAIN)) {
    throw new LabError(`${AGENT_MAIN} is missing: run \`npm run build\` first (or up with agent: false)`);
  }
  const running = nspawnPid(paths);
  const runningInit = running === undefined ? undefined : initPid(running);
  const index = allocateIndex(name, paths);
  const keys = await ensureKeys(paths.pki, name, addressFor(index).robot, opts);
  if (runningInit !== undefined) {
    checkDiskSizes(name, paths, opts.disks ?? {}, true);
    if (opts.ssh === true && !existsSync(paths.knownHosts)) {
      throw new LabError(`robot ${name} is running without sshd: down it first to up it with ssh`);
    }
    const view = await natOfRunning(name, paths, opts.nat === true, opts);
    return describeRobot(name, paths, index, keys, runningInit, view);
  }

  const lowerFile = join(paths.dir, "lower");
  const recorded = existsSync(lowerFile) ? readFileSync(lowerFile, "utf8").trim() : undefined;
  const lower = recorded ?? (await ensureRootfs({ ...opts, timeoutMs: opts.rootfsTimeoutMs }));
  if (!existsSync(lower))
    throw new LabError(`robot ${name} was made from ${lower}, which is gone: run down first`);
  writeFileSync(lowerFile, `${lower}\n`);

  await ensureNetwork(name, index, opts);
  const nat = await natForBoot(name, paths, opts.nat === true, opts);
  await mountRoot(paths, lower, opts.signal);
  await mountDisks(name, paths, opts.disks ?? {});
  const fleet = await ensureFleetKey(FLEET_KEY_DIR, opts);
  writeRobotFiles(
    name,
    paths.root,
    keys,
    fleet.publicKey,
    agent,
    index,
    opts.cache === true ? cacheForRobot(index) : undefined,
    opts.holdConditions,
    nat === undefined ? undefined : natDialOut(index),
  );
  if (nat !== undefined) writeNatFiles(paths.root, nat, keys, writeFile);
  await setUpSsh(name, paths, addressFor(index).robot, opts.ssh === true, opts);
  const view = nat === undefined ? undefined : await natView(name, opts);
  writeInventories(name, paths, index, keys, view);
  return describeRobot(name, paths, index, keys, await boot(name, paths, opts), view);
}

async function boot(name: string, paths: RobotPaths, opts: UpOptions): Promise<number> {
  const started = Date.now();
  await stopContainer(name, paths); // a half-dead earlier run
  const nspawn = startContainer(name, paths, realpathSync(process.execPath));
  const init = await waitForBoot(name, paths, nspawn, {
    timeoutMs: opts.bootTimeoutMs ?? 90_000,
    signal: opts.signal,
  });
  opts.log?.(
    `lab: robot ${name} booted in ${((Date.now() - started) / 1000).toFixed(1)} s (init pid ${init})`,
  );
  return init;
}

export interface RestartOptions extends Omit<UpOptions, "agent" | "rootfsTimeoutMs"> {
  /** Kill instead of powering off: a power cut (units get no stop, the switch no chance to finish). */
  hard?: boolean;
}

/** Powers the robot off (or cuts it, `hard`) and boots it again, keeping its root (Nix store, profile, state). */
export async function labRestart(name: string, opts: RestartOptions = {}): Promise<LabRobot> {
  const paths = robotPaths(name);
  const index = readIndex(paths);
  if (index === undefined || !mountedAt(paths.root)) throw new LabError(`robot ${name} is not up`);
  await stopContainer(name, paths, { hard: opts.hard });
  await ensureNetwork(name, index, opts);
  // A namespace made anew has lost the rule.
  if (isNat(paths)) await blockInbound(name, opts);
  const keys = await ensureKeys(paths.pki, name, addressFor(index).robot, opts);
  const view = isNat(paths) ? await natView(name, opts) : undefined;
  return describeRobot(name, paths, index, keys, await boot(name, paths, opts), view);
}

/** Stops the robot and removes everything it had: container, disks, overlay, netns, directory. Idempotent. */
export async function labDown(name: string): Promise<void> {
  const paths = robotPaths(name);
  await stopContainer(name, paths);
  await unmountDisks(paths);
  if (mountedAt(paths.root)) {
    const r = await run("umount", [paths.root], { timeoutMs: 10_000, check: false });
    if (r.code !== 0) await run("umount", ["-l", paths.root], { timeoutMs: 10_000 });
  }
  const index = readIndex(paths);
  await removeNetwork(name, index);
  const stillMounted = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4]?.startsWith(`${paths.dir}/`));
  if (stillMounted) throw new LabError(`robot ${name}: something is still mounted under ${paths.dir}`);
  rmSync(paths.dir, { recursive: true, force: true });
  if (index !== undefined) {
    const claim = join(INDEX_DIR, String(index));
    if (existsSync(claim) && readFileSync(claim, "utf8").trim() === name) unlinkSync(claim);
  }
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv inside the robot (all its namespaces; PATH, NIX_CONFIG, ROS_MASTER_URI set). */
export async function labExec(
  name: string,
  argv: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const nspawn = nspawnPid(robotPaths(name));
  const init = nspawn === undefined ? undefined : initPid(nspawn);
  if (init === undefined) throw new LabError(`robot ${name} is not running`);
  const { code, stdout, stderr } = await nsenter(init, argv, opts);
  return { code, stdout, stderr };
}
