// The vm suite (issue 30): one VM robot (QEMU, OVMF, systemd-boot; TCG here). Per run: a cold
// `up --vm` to the agent ready, a plain reboot to the agent ready, a healthy reboot deployment by
// phase, and a generation that panics at boot until the previous one runs again. Boundaries come
// from the CLI (host clock), the agent's events (--json, the guest's clock of each boot, offset
// measured per boot: vm-clock.ts), the new boot's kernel start, and QEMU's console file.
import { robotPaths } from "../../integration-tests/lab/config.js";
import {
  buildKernelSystems,
  type KernelSystem,
  type LabRobot,
  labDown,
  labRestart,
  labUp,
  labVmImage,
  waitForAgent,
} from "../../integration-tests/lab/index.js";
import type { BenchOptions } from "../args.js";
import { type Stat, stat, statTable } from "../report.js";
import { timedCli } from "./cli.js";
import type { SuiteResult } from "./suite.js";
import { type BootClock, bootClock, consoleTimes, labClockExec, watchConsole } from "./vm-clock.js";
import { panicPhases, rebootDeployPhases } from "./vm-phases.js";

/** Bounds for one boot under TCG on a loaded host, and for a deploy spanning up to three boots. */
const BOOT_MS = 600_000;
const AGENT_MS = 300_000;
const DEPLOY_MS = 1_200_000;
/** The old kernel's last console line on a reboot (printed at emergency level, `quiet` or not). */
const RESTART = /reboot: Restarting system/;
const PANIC = /Kernel panic - not syncing/;

type Rows = Record<string, number[]>;
const add = (all: Rows, m: Record<string, number>) => {
  for (const [k, v] of Object.entries(m)) all[k] = [...(all[k] ?? []), v];
};
const stats = (all: Rows): Record<string, Stat> =>
  Object.fromEntries(Object.entries(all).map(([k, v]) => [k, stat(v)]));
const s = (ms: number) => ms / 1000;
const fmt = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, v]) => `${k.trim()} ${v.toFixed(1)}`)
    .join("; ");

interface Ctx {
  readonly name: string;
  readonly log: (line: string) => void;
  readonly systems: Record<KernelSystem, string>;
}

/** Down (if up), then a cold `up --vm` until the agent's port accepts. */
async function coldUp(ctx: Ctx): Promise<{ robot: LabRobot; rows: Record<string, number> }> {
  await labDown(ctx.name);
  const t0 = Date.now();
  const robot = await labUp(ctx.name, { vm: true, bootTimeoutMs: BOOT_MS, log: ctx.log });
  const booted = Date.now();
  await waitForAgent(ctx.name, { timeoutMs: AGENT_MS });
  const ready = Date.now();
  const clock = await bootClock(labClockExec(ctx.name));
  const rows = {
    "up → agent ready (host: disks, QEMU, firmware, loader, kernel, userspace)": s(ready - t0),
    "  up → kernel start": s(clock.kernelStartMs - t0),
    "  kernel start → agent ready": s(ready - clock.kernelStartMs),
    "  up → systemd up (lab's own wait)": s(booted - t0),
  };
  return { robot, rows };
}

/** `systemctl reboot` of the running VM until the agent's port accepts again. */
async function plainReboot(ctx: Ctx): Promise<Record<string, number>> {
  const before = await bootClock(labClockExec(ctx.name));
  const con = watchConsole(robotPaths(ctx.name).log);
  const t0 = Date.now();
  try {
    await labRestart(ctx.name, { bootTimeoutMs: BOOT_MS });
    await waitForAgent(ctx.name, { timeoutMs: AGENT_MS });
  } finally {
    con.stop();
  }
  const ready = Date.now();
  const after = await bootClock(labClockExec(ctx.name));
  if (after.bootId === before.bootId) throw new Error("the reboot did not reboot");
  const restart = consoleTimes(con, RESTART)[0];
  return {
    "reboot asked → agent ready (host)": s(ready - t0),
    ...(restart === undefined
      ? {}
      : { "  reboot asked → old kernel's 'Restarting system'": s(restart - t0) }),
    "  reboot asked → new kernel start": s(after.kernelStartMs - t0),
    "  kernel start → agent ready": s(ready - after.kernelStartMs),
  };
}

/** `deploy SYSTEM --action boot --reboot --json`, with the boot clocks on both sides and the console. */
async function rebootDeploy(ctx: Ctx, robot: LabRobot, system: KernelSystem, expectCode: number) {
  const before = await bootClock(labClockExec(ctx.name));
  const con = watchConsole(robotPaths(ctx.name).log);
  let run: Awaited<ReturnType<typeof timedCli>>;
  try {
    run = await timedCli(
      robot,
      ["deploy", ctx.systems[system], "--sign-key", robot.signingKey, "--action", "boot", "--reboot"],
      DEPLOY_MS,
    );
  } finally {
    con.stop();
  }
  if (run.code !== expectCode) {
    const tail = run.lines.slice(-5).map((l) => l.line.slice(0, 300));
    throw new Error(`deploy ${system} exited ${run.code}, not ${expectCode}: ${tail.join(" | ")}`);
  }
  await waitForAgent(ctx.name, { timeoutMs: AGENT_MS });
  const after: BootClock = await bootClock(labClockExec(ctx.name));
  const r = {
    startMs: run.startMs,
    endMs: run.endMs,
    events: run.json.events,
    pushSeconds: run.json.push?.seconds ?? 0,
  };
  return { run: r, before, after, con, pathsMissing: run.json.push?.pathsMissing ?? 0 };
}

export interface VmResult {
  readonly robot: string;
  readonly cold: Record<string, Stat>;
  readonly reboot: Record<string, Stat>;
  readonly deploy: Record<string, Stat>;
  readonly panic: Record<string, Stat>;
  /** Per deploy run: paths pushed, and the boot clocks' offsets (ms, guest − host) and their bounds. */
  readonly details: readonly Record<string, unknown>[];
  /** Runs that did not finish, and why (their finished steps are in the tables). */
  readonly failures: readonly RunFailure[];
}

export interface RunFailure {
  run: number;
  error: string;
}

/**
 * Runs 1..runs; a run that throws (a boot past its bound, a wrong exit code) is recorded and the
 * next one goes on, so what finished runs measured is kept. Throws only when every run failed.
 */
export async function eachRun(
  runs: number,
  oneRun: (r: number) => Promise<void>,
  log: (line: string) => void,
): Promise<RunFailure[]> {
  const failures: RunFailure[] = [];
  for (let r = 1; r <= runs; r++) {
    try {
      await oneRun(r);
    } catch (e) {
      const error = (e instanceof Error ? e.message : String(e)).slice(0, 500);
      failures.push({ run: r, error });
      log(`vm run ${r}/${runs} FAILED: ${error}`);
    }
  }
  if (runs > 0 && failures.length === runs) throw new Error(`every run failed; run 1: ${failures[0]?.error}`);
  return failures;
}

export async function vmSuite(log: (line: string) => void, opts: BenchOptions): Promise<SuiteResult> {
  const name = opts.robot;
  // Not timed: the image and the kernel systems are built (or found cached) first.
  const systems = await buildKernelSystems(await labVmImage({ log }));
  const cold: Rows = {};
  const reboot: Rows = {};
  const deploy: Rows = {};
  const panic: Rows = {};
  const details: Record<string, unknown>[] = [];
  const ctx: Ctx = { name, log, systems };
  const clockOf = (c: BootClock) => ({ offsetMs: c.offsetMs, uncertaintyMs: c.uncertaintyMs });
  const oneRun = async (r: number): Promise<void> => {
    const { robot, rows: c } = await coldUp(ctx);
    add(cold, c);
    log(`vm run ${r}: up ${fmt(c)}`);
    // Healthy: kernel-ok and kernel-ok-b differ from the base system and from each other.
    const ok = await rebootDeploy(ctx, robot, r % 2 === 1 ? "kernel-ok" : "kernel-ok-b", 0);
    log(`vm run ${r}: deploy events ${JSON.stringify(ok.run.events.map((e) => [e.state, e.time]))}`);
    const d = rebootDeployPhases(ok.run, ok.before, ok.after, consoleTimes(ok.con, RESTART)[0]);
    add(deploy, d);
    log(`vm run ${r}: reboot deploy ${fmt(d)}`);
    const bad = await rebootDeploy(ctx, robot, "kernel-panic", 2);
    log(`vm run ${r}: panic events ${JSON.stringify(bad.run.events.map((e) => [e.state, e.time]))}`);
    const panics = consoleTimes(bad.con, PANIC);
    const f = panicPhases(bad.run, bad.before, bad.after, panics);
    add(panic, f);
    log(`vm run ${r}: panic ${fmt(f)}`);
    const p = await plainReboot(ctx);
    add(reboot, p);
    log(`vm run ${r}: plain reboot ${fmt(p)}`);
    details.push({
      run: r,
      deployPathsMissing: ok.pathsMissing,
      panicPathsMissing: bad.pathsMissing,
      panicsOnConsole: panics.length,
      clocks: [ok.before, ok.after, bad.before, bad.after].map(clockOf),
    });
    log(`vm run ${r}/${opts.vmRuns} done: ${JSON.stringify(details.at(-1))}`);
  };
  let failures: RunFailure[] = [];
  try {
    failures = await eachRun(opts.vmRuns, oneRun, log);
  } finally {
    await labDown(name);
  }
  const result: VmResult = {
    robot: name,
    cold: stats(cold),
    reboot: stats(reboot),
    deploy: stats(deploy),
    panic: stats(panic),
    details,
    failures,
  };
  return { json: { ...result }, text: vmTables(result) };
}

export function vmTables(r: VmResult): string {
  return [
    "### VM robot: cold `lab up --vm` to the agent's port open",
    "",
    statTable(r.cold),
    "",
    "### VM robot: plain reboot to the agent's port open",
    "",
    statTable(r.reboot),
    "",
    "### VM robot: healthy `deploy --action boot --reboot` by phase",
    "",
    statTable(r.deploy),
    "",
    "### VM robot: a generation that panics at boot (2 tries) until the previous one runs",
    "",
    statTable(r.panic),
    ...(r.failures.length === 0
      ? []
      : [
          "",
          "### VM robot: runs that did not finish",
          "",
          ...r.failures.map((f) => `- run ${f.run}: ${f.error}`),
        ]),
  ].join("\n");
}
