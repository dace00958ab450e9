// The agent's footprint and the deploy overhead (issue 13) on a fresh lab robot; see bench/README.md.
// Alone: `node --import tsx bench/agent.ts` (root, robot `am-bench`); `npm run bench` runs it as the suite `agent`.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { computeClosure, signPaths } from "../controller/src/closure/index.js";
import {
  buildSystems,
  type LabRobot,
  labDown,
  labExec,
  labUp,
  waitForAgent,
} from "../integration-tests/lab/index.js";
import { buildRandomClosure } from "./closure.js";
import { directTarget } from "./links/index.js";
import { agentMemory, forget } from "./measure.js";
import type { Suite } from "./suites/suite.js";
import { push } from "./variants/push.js";

export interface AgentSuiteOptions {
  /** MiB pushed while the peak RSS is watched (default 1024; BENCH_PEAK_MB). */
  readonly peakMb?: number;
  /** Seconds of CPU accounting while the agent watches the lab's 10 Hz /chatter (default 30). */
  readonly cpuSeconds?: number;
  readonly log?: (line: string) => void;
}

export interface AgentSuiteResult {
  readonly idleRssMiB: number;
  readonly watchingRssMiB: number;
  readonly cpuPercentWatching: number;
  readonly peakRssMiB: number;
  readonly peakPushMiB: number;
  /** Wall time of `deploy` minus the switch and the health window, per run (the talker system, already present). */
  readonly deployOverheadSeconds: {
    readonly beforeActivating: number;
    readonly afterHealthy: number;
    readonly total: number;
  }[];
}

const CLI = fileURLToPath(new URL("../controller/dist/bundle/cli.js", import.meta.url));
const HOST_NIX_CONFIG = "build-users-group =\nsandbox = false\nsubstituters =";

async function cpuTicks(robot: string, pid: string): Promise<number> {
  const stat = (await labExec(robot, ["cat", `/proc/${pid}/stat`])).stdout;
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

async function agentPidIn(robot: string): Promise<string> {
  return (
    await labExec(robot, ["systemctl", "show", "-p", "MainPID", "--value", "ros-rollback-agent"])
  ).stdout.trim();
}

interface DeployEvent {
  readonly state: string;
  readonly time: string;
}

/** One `deploy` of `system` (--json); wall seconds and the agent's events. */
function deploy(robot: LabRobot, system: string): Promise<{ seconds: number; events: DeployEvent[] }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      [
        CLI,
        "deploy",
        system,
        "--inventory",
        robot.inventory,
        "--target",
        robot.name,
        "--sign-key",
        robot.signingKey,
        "--json",
      ],
      { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, NIX_CONFIG: HOST_NIX_CONFIG } },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (Date.now() - t0) / 1000;
      if (code !== 0)
        return reject(new Error(`deploy to ${robot.name} exited ${code}: ${out.slice(0, 300)}`));
      const doc = JSON.parse(out) as { events?: DeployEvent[] };
      resolve({ seconds, events: doc.events ?? [] });
    });
  });
}

/** Controller start → ACTIVATING, and AWAITING_CONFIRMATION → exit: what is neither transfer, switch nor health window. */
function overhead(d: { seconds: number; events: DeployEvent[] }, t0: number) {
  const at = (state: string) => {
    const e = d.events.find((x) => x.state === state);
    if (e === undefined) throw new Error(`no ${state} event`);
    return Date.parse(e.time);
  };
  const end = t0 + d.seconds * 1000;
  const beforeActivating = (at("ACTIVATING") - t0) / 1000;
  const afterHealthy = (end - at("AWAITING_CONFIRMATION")) / 1000;
  const between = (at("CHECKING_HEALTH") - at("ACTIVATED")) / 1000;
  return { beforeActivating, afterHealthy, total: beforeActivating + between + afterHealthy };
}

/** Measures on `robot`, freshly booted (its agent not yet deployed to). */
export async function measureAgent(robot: LabRobot, o: AgentSuiteOptions = {}): Promise<AgentSuiteResult> {
  const name = robot.name;
  const log = o.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const peakMb = o.peakMb ?? Number(process.env.BENCH_PEAK_MB ?? 1024);
  const cpuSeconds = o.cpuSeconds ?? 30;
  const systems = await buildSystems();
  const talker = systems.talker;
  if (talker === undefined) throw new Error("the lab has no talker system");
  {
    await waitForAgent(name, { timeoutMs: 60_000 });
    await new Promise((ok) => setTimeout(ok, 20_000)); // start-up garbage collected, young generation shrunk
    const idle = await agentMemory(name);
    log(`agent: idle RSS ${(idle.rss / 2 ** 20).toFixed(1)} MiB`);

    // Deploy overhead: the first deploy pushes the talker; the next ones find it present.
    const runs: AgentSuiteResult["deployOverheadSeconds"][number][] = [];
    for (let r = 0; r < 4; r++) {
      const t0 = Date.now();
      const d = await deploy(robot, talker);
      const o = overhead(d, t0);
      log(
        `agent: deploy ${r + 1}: ${d.seconds.toFixed(2)} s, overhead ${o.total.toFixed(2)} s (before ACTIVATING ${o.beforeActivating.toFixed(2)}, after healthy ${o.afterHealthy.toFixed(2)})`,
      );
      if (r > 0) runs.push(o);
    }

    // CPU while the health monitor watches /chatter (10 Hz) between deployments.
    await new Promise((ok) => setTimeout(ok, 10_000));
    const pid = await agentPidIn(name);
    const a = await cpuTicks(name, pid);
    await new Promise((ok) => setTimeout(ok, cpuSeconds * 1000));
    const b = await cpuTicks(name, pid);
    const cpuPercentWatching = (b - a) / cpuSeconds; // 100 ticks per second = 100 %
    const watching = await agentMemory(name);
    log(
      `agent: CPU ${cpuPercentWatching.toFixed(2)} % watching /chatter, RSS ${(watching.rss / 2 ** 20).toFixed(1)} MiB`,
    );

    // Peak RSS over a push of peakMb MiB (incompressible, --compress none).
    const closure = await buildRandomClosure(`am-${Date.now().toString(36)}`, 50, peakMb * 2 ** 20);
    const infos = await signPaths(
      await computeClosure(closure.root, AbortSignal.timeout(600_000)),
      robot.signingKey,
      AbortSignal.timeout(600_000),
    );
    const m = await push(directTarget(robot), infos, "none");
    log(`agent: pushed ${peakMb} MiB in ${m.seconds.toFixed(1)} s`);
    const after = await agentMemory(name);
    await forget(name, infos.map((i) => i.storePath).reverse());
    return {
      idleRssMiB: idle.rss / 2 ** 20,
      watchingRssMiB: watching.rss / 2 ** 20,
      cpuPercentWatching,
      peakRssMiB: after.peak / 2 ** 20,
      peakPushMiB: peakMb,
      deployOverheadSeconds: runs,
    };
  }
}

/** The suite `agent` of `npm run bench`. */
export const agentSuite: Suite = async ({ robot, log }) => {
  const r = await measureAgent(robot, { log });
  return { json: { ...r }, text: agentTable(r) };
};

const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export function agentTable(r: AgentSuiteResult): string {
  const o = r.deployOverheadSeconds;
  return [
    "| agent | value | goal |",
    "| --- | --- | --- |",
    `| idle RSS | ${r.idleRssMiB.toFixed(1)} MiB | ≤ 70 MB |`,
    `| RSS watching /chatter | ${r.watchingRssMiB.toFixed(1)} MiB | |`,
    `| peak RSS (${r.peakPushMiB} MiB push) | ${r.peakRssMiB.toFixed(1)} MiB | ≤ 110 MB |`,
    `| CPU watching a 10 Hz topic | ${r.cpuPercentWatching.toFixed(2)} % | ≤ 1 % |`,
    `| deploy overhead, median of ${o.length} | ${median(o.map((x) => x.total)).toFixed(2)} s (before ACTIVATING ${median(o.map((x) => x.beforeActivating)).toFixed(2)}, after healthy ${median(o.map((x) => x.afterHealthy)).toFixed(2)}) | ≤ 0.5 s |`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const name = "am-bench";
  labUp(name)
    .then((robot) => measureAgent(robot).finally(() => labDown(name)))
    .then(
      (r) => {
        process.stdout.write(`${agentTable(r)}\n${JSON.stringify({ agent: r })}\n`);
      },
      (e: unknown) => {
        process.stderr.write(`bench agent: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      },
    );
}
