// The VM lab robot (`up --vm`): the lab rootfs booted by QEMU through OVMF and systemd-boot, on a tap
// with the robot's usual addresses; exec over ssh. The per-VM files (keys, agent config, units)
// are written to paths.root as for a container, then put on a seed disk the initrd copies in.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { cacheForRobot } from "./cache.js";
import {
  AGENT_CONFIG,
  AGENT_UNIT,
  APP_DIR,
  addressFor,
  FLEET_KEY_DIR,
  hostIface,
  type LabHoldCondition,
  type LabRobot,
  ROBOT_ENV,
  type RobotPaths,
  robotPaths,
} from "./config.js";
import type { ExecOptions } from "./container.js";
import { removeNetwork } from "./network.js";
import { ensureFleetKey, ensureKeys } from "./pki.js";
import { LabError, poll, type RunResult, run } from "./proc.js";
import { allocateIndex, readIndex, writeFile, writeRobotFiles } from "./robot-files.js";
import { describeRobot, writeInventories } from "./robot-view.js";
import { rootfsPath } from "./rootfs.js";
import { robotSsh, setUpSsh } from "./ssh.js";
import { ensureAgentBundle, writeAgentDropIn } from "./vm-agent.js";
import { checkVmHost, ensureVmImage } from "./vm-image.js";
import { makeDisks, qemuPid, qmpReset, startQemu, stopQemu } from "./vm-qemu.js";

export interface VmUpOptions {
  signal?: AbortSignal;
  bootTimeoutMs?: number;
  rootfsTimeoutMs?: number;
  agent?: boolean;
  log?: (line: string) => void;
  cache?: boolean;
  holdConditions?: readonly LabHoldCondition[];
}

/** Boot counting's tries for a new loader entry (systems/switch-to-configuration.sh reads it). */
export const BOOT_TRIES_FILE = "/etc/lab-boot-tries";
export const VM_BOOT_TRIES = 2;
const DEFAULT_BOOT_MS = 180_000;
/** The boot-verdict gate (agent/boot/README.md): a counted boot is blessed only on the agent's verdict. */
export const VERDICT_UNIT = "ros-rollback-boot-verdict.service";
/** Above the agent's start under TCG on a loaded host (65-90 s seen, more under load): a slow start is not a failed try. */
export const VERDICT_WATCHDOG_SECONDS = 300;
/** The agent's start timeout in a VM: systemd's 90 s default killed starts that were only slow. */
const VM_AGENT_DROP_IN = "[Service]\nTimeoutStartSec=240\n";
/**
 * A journal that outlives reboots, so a failed boot is read afterwards (`journalctl -b -1`): the
 * rootfs masks systemd-journal-flush.service (a container's), so this unit moves /run's to /var.
 */
function persistentJournal(root: string): void {
  writeFile(join(root, "etc/systemd/journald.conf.d/lab-persistent.conf"), "[Journal]\nStorage=persistent\n");
  const unit = "lab-journal-flush.service";
  writeFile(
    join(root, "etc/systemd/system", unit),
    `[Unit]
Description=Move the journal to /var/log/journal
DefaultDependencies=no
After=systemd-journald.service systemd-remount-fs.service local-fs.target
Before=systemd-tmpfiles-setup.service
RequiresMountsFor=/var/log/journal
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/journalctl --flush
[Install]
WantedBy=sysinit.target
`,
  );
  mkdirSync(join(root, "etc/systemd/system/sysinit.target.wants"), { recursive: true });
  symlinkSync(`../${unit}`, join(root, "etc/systemd/system/sysinit.target.wants", unit));
}
const verdictUnit = (): string => `[Unit]
Description=Wait for the ros-rollback agent's verdict on this boot
DefaultDependencies=no
After=local-fs.target
Before=boot-complete.target
RequiresMountsFor=${APP_DIR}
[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=infinity
ExecStart=${APP_DIR}/agent/boot/boot-verdict.sh ${VERDICT_WATCHDOG_SECONDS}
[Install]
RequiredBy=boot-complete.target
`;

/**
 * A VM's agent judges boots (agent/boot/README.md): systemd-boot on the ESP at /boot counts tries.
 * Health by units only: under TCG on a loaded host the ROS master missed the lab's 5 s checks.
 */
function countBoots(configFile: string): void {
  const config = JSON.parse(readFileSync(configFile, "utf8")) as { health: Record<string, unknown> };
  const health = { ...config.health, ros: undefined };
  writeFile(configFile, `${JSON.stringify({ ...config, health, boot: { counting: true, esp: "/boot" } })}\n`);
}

const ip = (args: string[], signal?: AbortSignal, check = true) =>
  run("ip", args, { timeoutMs: 10_000, signal, check });

/** The host end: a tap named as the container's veth, with the host address of 10.231.K.0/24. */
async function ensureTap(name: string, index: number, signal?: AbortSignal): Promise<string> {
  const tap = hostIface(index);
  await removeNetwork(name, index, { signal });
  await ip(["tuntap", "add", "dev", tap, "mode", "tap"], signal);
  await ip(["addr", "add", `${addressFor(index).host}/24`, "dev", tap], signal);
  await ip(["link", "set", tap, "up"], signal);
  return tap;
}

const vmRobot = (robot: LabRobot): LabRobot & { vm: true } => ({ ...robot, vm: true });

export async function vmUp(name: string, opts: VmUpOptions = {}): Promise<LabRobot> {
  const kernel = checkVmHost();
  const paths = robotPaths(name);
  const index = allocateIndex(name, paths);
  const robotIp = addressFor(index).robot;
  const keys = await ensureKeys(paths.pki, name, robotIp, opts);
  const running = qemuPid(paths);
  if (running !== undefined) return vmRobot(describeRobot(name, paths, index, keys, running));

  const base = await ensureVmImage(kernel, { ...opts, timeoutMs: opts.rootfsTimeoutMs });
  const tap = await ensureTap(name, index, opts.signal);
  const fleet = await ensureFleetKey(FLEET_KEY_DIR, opts);
  rmSync(paths.root, { recursive: true, force: true });
  mkdirSync(join(paths.root, "etc/systemd/system/multi-user.target.wants"), { recursive: true });
  copyFileSync(join(rootfsPath(), "etc/group"), join(paths.root, "etc/group"));
  writeRobotFiles(
    name,
    paths.root,
    keys,
    fleet.publicKey,
    opts.agent ?? true,
    index,
    opts.cache === true ? cacheForRobot(index) : undefined,
    opts.holdConditions,
  );
  if (opts.agent ?? true) {
    await ensureAgentBundle(opts.signal);
    writeAgentDropIn(paths.root, AGENT_UNIT);
  }
  countBoots(join(paths.root, AGENT_CONFIG.slice(1)));
  rmSync(join(paths.root, "opt/ros-rollback/node"), { force: true }); // a bind target in a container; real in the image
  writeFile(
    join(paths.root, "etc/systemd/network/10-lab.network"),
    `[Match]\nName=eth0\n\n[Network]\nAddress=${robotIp}/24\n`,
  );
  writeFile(join(paths.root, BOOT_TRIES_FILE.slice(1)), `${VM_BOOT_TRIES}\n`);
  writeFile(join(paths.root, "etc/systemd/system/ros-rollback-agent.service.d/vm.conf"), VM_AGENT_DROP_IN);
  writeFile(join(paths.root, "etc/systemd/system", VERDICT_UNIT), verdictUnit());
  persistentJournal(paths.root);
  const requires = join(paths.root, "etc/systemd/system/boot-complete.target.requires");
  mkdirSync(requires, { recursive: true });
  symlinkSync(`../${VERDICT_UNIT}`, join(requires, VERDICT_UNIT));
  await setUpSsh(name, paths, robotIp, true, opts);
  writeInventories(name, paths, index, keys);
  await makeDisks(paths, base, opts.signal);
  const started = Date.now();
  const pid = startQemu(name, paths, tap);
  await waitForVmBoot(name, paths, undefined, opts);
  opts.log?.(`lab: VM ${name} booted in ${((Date.now() - started) / 1000).toFixed(1)} s (qemu pid ${pid})`);
  return vmRobot(describeRobot(name, paths, index, keys, pid));
}

function sshArgs(name: string, paths: RobotPaths): string[] {
  const index = readIndex(paths);
  const ssh = index === undefined ? undefined : robotSsh(name, paths, addressFor(index).robot);
  if (ssh === undefined) throw new LabError(`robot ${name} is not up`);
  return [...ssh.options, "-o", "ConnectTimeout=5", ssh.destination];
}

const quote = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`;

/** Runs argv in the VM over ssh with the robot's environment; never throws on exit codes. */
export function vmExec(name: string, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
  const paths = robotPaths(name);
  if (qemuPid(paths) === undefined) throw new LabError(`robot ${name} is not running`);
  const env = Object.entries({ ...ROBOT_ENV, ...opts.env }).map(([k, v]) => quote(`${k}=${v}`));
  const remote = ["env", "-i", ...env, ...argv.map(quote)].join(" ");
  return run("ssh", [...sshArgs(name, paths), remote], {
    input: opts.input,
    output: opts.output,
    timeoutMs: opts.timeoutMs ?? 60_000,
    signal: opts.signal,
    check: false,
  });
}

/** ssh in a booting VM can hang past its timeout: that is "not yet", not a failure (undefined). */
function probeExec(
  name: string,
  argv: readonly string[],
  signal?: AbortSignal,
): Promise<RunResult | undefined> {
  return vmExec(name, argv, { timeoutMs: 10_000, signal }).catch((e: unknown) => {
    if (signal?.aborted === true || !(e instanceof LabError) || !e.message.includes("timed out")) throw e;
    return undefined;
  });
}

async function bootId(name: string, signal?: AbortSignal): Promise<string | undefined> {
  const r = await probeExec(name, ["cat", "/proc/sys/kernel/random/boot_id"], signal);
  return r?.code === 0 ? r.stdout.trim() : undefined;
}

/** Waits until systemd in the VM says running or degraded, in a boot other than `previous`. */
async function waitForVmBoot(
  name: string,
  paths: RobotPaths,
  previous: string | undefined,
  opts: { bootTimeoutMs?: number; signal?: AbortSignal },
): Promise<void> {
  const timeoutMs = opts.bootTimeoutMs ?? DEFAULT_BOOT_MS;
  let state = "no ssh yet";
  await poll(
    `robot ${name}: boot`,
    async () => {
      if (qemuPid(paths) === undefined)
        throw new LabError(`robot ${name}: qemu exited (console: ${paths.log})`);
      const id = await bootId(name, opts.signal);
      if (id === undefined || id === previous) return undefined;
      const r = await probeExec(name, ["systemctl", "is-system-running"], opts.signal);
      if (r === undefined) return undefined;
      state = r.stdout.trim() || r.stderr.trim().slice(0, 100);
      if (state === "running" || state === "degraded") return true;
      // A counted boot stays "starting" until the agent's verdict: judging it is the agent's job.
      const verdict = await probeExec(name, ["systemctl", "is-active", VERDICT_UNIT], opts.signal);
      return verdict?.stdout.trim() === "activating" ? true : undefined;
    },
    { timeoutMs, intervalMs: 1_000, signal: opts.signal },
  ).catch((e: unknown) => {
    if (e instanceof LabError && e.message.includes("qemu exited")) throw e;
    throw new LabError(
      `robot ${name}: not booted after ${timeoutMs / 1000} s (state: ${state}; console: ${paths.log})`,
      {
        cause: e,
      },
    );
  });
}

/** `hard`: QEMU's reset, a power cut; else a clean reboot from inside. Waits for the next boot. */
export async function vmRestart(
  name: string,
  opts: { hard?: boolean; signal?: AbortSignal; log?: (line: string) => void; bootTimeoutMs?: number },
): Promise<LabRobot> {
  const paths = robotPaths(name);
  const index = readIndex(paths);
  const pid = qemuPid(paths);
  if (index === undefined || pid === undefined) throw new LabError(`robot ${name} is not up`);
  const previous = await bootId(name, opts.signal);
  const started = Date.now();
  if (opts.hard === true) await qmpReset(name, paths);
  else await vmExec(name, ["systemctl", "reboot"], { timeoutMs: 10_000, signal: opts.signal });
  await waitForVmBoot(name, paths, previous, opts);
  opts.log?.(`lab: VM ${name} rebooted in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const keys = await ensureKeys(paths.pki, name, addressFor(index).robot, opts);
  return vmRobot(describeRobot(name, paths, index, keys, pid));
}

/** Kills QEMU and deletes the VM's disks (labDown removes the rest). */
export async function vmDown(name: string, paths: RobotPaths): Promise<void> {
  await stopQemu(name, paths);
  if (existsSync(paths.root)) rmSync(paths.root, { recursive: true, force: true });
}
