// The robot's container: systemd-nspawn booting the robot root inside its network namespace,
// detached from the caller, in a cgroup of its own (the host has no systemd to give it one).
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { APP_DIR, NODE_BIN, netnsName, REPO_ROOT, ROBOT_ENV, type RobotPaths } from "./config.js";
import { LabError, poll, type RunOptions, type RunResult, run, sleep } from "./proc.js";

interface Opts {
  signal?: AbortSignal;
}

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  return !/^\d+ \(.*\) [ZX]/s.test(stat);
}

/** The nspawn process of this robot, if it is running. */
export function nspawnPid(paths: RobotPaths): number | undefined {
  const pid = Number(readText(paths.pidFile)?.trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  const argv = readText(`/proc/${pid}/cmdline`)?.split("\0") ?? [];
  return argv.includes(`--directory=${paths.root}`) ? pid : undefined;
}

/** The container's init: the child of nspawn that is PID 1 in its own PID namespace. */
export function initPid(nspawn: number): number | undefined {
  const children = readText(`/proc/${nspawn}/task/${nspawn}/children`)?.trim().split(/\s+/) ?? [];
  for (const child of children) {
    const nspid = readText(`/proc/${child}/status`)
      ?.match(/^NSpid:\s+(.*)$/m)?.[1]
      ?.trim()
      .split(/\s+/);
    if (nspid && nspid.length > 1 && nspid.at(-1) === "1") return Number(child);
  }
  return undefined;
}

/** cgroup directories for the robot: both of a hybrid host's systemd hierarchies, or the v2 root. */
function cgroupDirs(name: string): string[] {
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) return [`/sys/fs/cgroup/ros-rollback-lab/${name}`];
  return ["systemd", "unified"]
    .filter((h) => existsSync(`/sys/fs/cgroup/${h}/cgroup.procs`))
    .map((h) => `/sys/fs/cgroup/${h}/ros-rollback-lab/${name}`);
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    // still has processes: left for the next down
  }
}

export function removeCgroups(name: string): void {
  for (const dir of cgroupDirs(name)) removeCgroupTree(dir);
}

// Moves itself into the robot's cgroups, then becomes nspawn (so the PID stays the same).
const LAUNCH = 'for d in $LAB_CGROUPS; do echo $$ > "$d/cgroup.procs"; done; exec "$@"';

/** Starts nspawn detached (own session, console to the robot's log). Returns its PID. */
export function startContainer(name: string, paths: RobotPaths, nodeBin: string): number {
  const cgroups = cgroupDirs(name);
  for (const dir of cgroups) mkdirSync(dir, { recursive: true });
  // biome-ignore format: flags read best one per line
  const args = [
    "systemd-nspawn", `--directory=${paths.root}`, `--machine=${name}`, "--boot",
    "--register=no", "--keep-unit", `--network-namespace-path=/run/netns/${netnsName(name)}`,
    "--capability=CAP_NET_ADMIN", "--console=read-only", "--resolv-conf=off", "--link-journal=no", "--timezone=off",
    `--bind-ro=${REPO_ROOT}:${APP_DIR}`, `--bind-ro=${nodeBin}:${NODE_BIN}`,
  ];
  const log = openSync(paths.log, "a");
  try {
    const child = spawn("/bin/sh", ["-c", LAUNCH, "lab-nspawn", ...args], {
      detached: true,
      stdio: ["ignore", log, log],
      env: { PATH: process.env.PATH ?? ROBOT_ENV.PATH, LAB_CGROUPS: cgroups.join(" ") },
    });
    child.unref();
    if (child.pid === undefined) throw new LabError(`robot ${name}: could not start systemd-nspawn`);
    writeFileSync(paths.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

const logTail = (paths: RobotPaths): string =>
  (readText(paths.log) ?? "").trim().split("\n").slice(-3).join(" | ").slice(-400);

/** Waits for the container's init to exist, then for `systemctl is-system-running` to settle. */
export async function waitForBoot(
  name: string,
  paths: RobotPaths,
  nspawn: number,
  opts: Opts & { timeoutMs: number },
): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  const init = await poll(
    `robot ${name}: container init`,
    async () => {
      if (!isAlive(nspawn)) throw new LabError(`robot ${name}: systemd-nspawn exited: ${logTail(paths)}`);
      return initPid(nspawn);
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 100, signal: opts.signal },
  );
  let state = "unknown";
  await poll(
    `robot ${name}: boot`,
    async () => {
      if (!isAlive(nspawn))
        throw new LabError(`robot ${name}: container exited while booting: ${logTail(paths)}`);
      const r = await nsenter(init, ["systemctl", "is-system-running"], {
        timeoutMs: 5_000,
        signal: opts.signal,
      });
      state = r.stdout.trim() || r.stderr.trim();
      return state === "running" || state === "degraded" ? true : undefined;
    },
    { timeoutMs: Math.max(1, deadline - Date.now()), intervalMs: 200, signal: opts.signal },
  ).catch((e: unknown) => {
    throw new LabError(
      `robot ${name}: not booted after ${opts.timeoutMs / 1000} s (state: ${state}; console: ${paths.log})`,
      {
        cause: e,
      },
    );
  });
  return init;
}

export interface ExecOptions extends Opts {
  input?: RunOptions["input"];
  output?: RunOptions["output"];
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs argv in all of the container's namespaces with the robot's environment; never throws on exit codes. */
export function nsenter(init: number, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
  const env = Object.entries({ ...ROBOT_ENV, ...opts.env }).map(([k, v]) => `${k}=${v}`);
  return run("nsenter", ["-t", String(init), "-a", "env", "-i", ...env, ...argv], {
    input: opts.input,
    output: opts.output,
    timeoutMs: opts.timeoutMs ?? 60_000,
    signal: opts.signal,
    check: false,
  });
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Powers the container off (bounded), then kills what is left. Idempotent. `hard` skips the
 * poweroff: init and every process of the robot die at once, like a power cut (files written
 * stay, as the host's page cache holds them).
 */
export async function stopContainer(
  name: string,
  paths: RobotPaths,
  opts: { timeoutMs?: number; hard?: boolean } = {},
): Promise<void> {
  const nspawn = nspawnPid(paths);
  if (nspawn !== undefined) {
    const init = initPid(nspawn);
    if (init !== undefined && !opts.hard) {
      await nsenter(init, ["systemctl", "poweroff"], { timeoutMs: 5_000 }).catch(() => undefined);
    }
    if (opts.hard || !(await waitForExit(nspawn, opts.timeoutMs ?? 20_000))) {
      for (const pid of [init, nspawn]) {
        try {
          if (pid !== undefined) process.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      if (!(await waitForExit(nspawn, 5_000)))
        throw new LabError(`robot ${name}: nspawn ${nspawn} does not die`);
    }
  }
  rmSync(paths.pidFile, { force: true });
  removeCgroups(name);
}
