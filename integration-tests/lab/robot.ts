// The lab robot's lifecycle: up, down, restart, exec, and waiting for its agent.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { cacheForRobot } from "./cache.js";
import {
  addressFor,
  FLEET_KEY_DIR,
  type LabHoldCondition,
  type LabRobot,
  REPO_ROOT,
  type RobotPaths,
  robotPaths,
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
import { ensureFleetKey, ensureKeys } from "./pki.js";
import { LabError, run } from "./proc.js";
import { allocateIndex, INDEX_DIR, readIndex, writeFile, writeRobotFiles } from "./robot-files.js";
import { describeRobot, writeInventories } from "./robot-view.js";
import { ensureRootfs } from "./rootfs.js";
import { setUpSsh } from "./ssh.js";
import { vmDown, vmExec, vmRestart, vmUp } from "./vm.js";
import { isVm } from "./vm-qemu.js";

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
  /** A QEMU VM with UEFI, systemd-boot and a kernel instead of a container (vm.ts). Default false. */
  vm?: boolean;
}

const AGENT_MAIN = join(REPO_ROOT, "agent", "dist", "main.js");

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

/** Boots the robot NAME (building the rootfs once), or describes it if it is already running. */
export async function labUp(name: string, opts: UpOptions = {}): Promise<LabRobot> {
  const paths = robotPaths(name);
  if (opts.vm === true || isVm(paths)) {
    if (opts.nat === true || opts.disks?.store !== undefined || opts.disks?.boot !== undefined)
      throw new LabError("up --vm: --nat, --store-size and --boot-size are for containers only");
    return vmUp(name, opts);
  }
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
  if (isVm(paths)) return vmRestart(name, opts);
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
  if (isVm(paths)) await vmDown(name, paths);
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
  if (isVm(robotPaths(name))) return vmExec(name, argv, opts);
  const nspawn = nspawnPid(robotPaths(name));
  const init = nspawn === undefined ? undefined : initPid(nspawn);
  if (init === undefined) throw new LabError(`robot ${name} is not running`);
  const { code, stdout, stderr } = await nsenter(init, argv, opts);
  return { code, stdout, stderr };
}
