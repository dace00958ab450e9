// npm run bench [-- --suites SUITE,… --only LINK,… --variants VARIANT,…]: the suites of SUITES, in
// order, each on a fresh lab robot (booted with sshd); see bench/README.md.
import { cpus, loadavg } from "node:os";
import { labDown, labUp, waitForAgent } from "../integration-tests/lab/index.js";
import { agentSuite } from "./agent.js";
import { type BenchOptions, parseArgs, UsageError } from "./args.js";
import { agentMemory } from "./measure.js";
import { mergeResults } from "./results.js";
import { gc, redeploy, rollback, transfers } from "./suites/index.js";
import { relaySuite } from "./suites/relay.js";
import { relayPush } from "./suites/relay-push.js";
import type { Suite, SuiteResult } from "./suites/suite.js";
import { vmSuite } from "./suites/vm.js";

/** The suites, in the order they run; `--suites` picks among these names. */
const SUITES: Record<string, Suite> = {
  transfers,
  redeploy,
  rollback,
  agent: agentSuite,
  gc,
  "relay-push": relayPush,
};
/** Suites whose robot boots behind NAT, dialing the lab relay. */
const NAT_SUITES = new Set(["relay-push"]);
/** Suites that run.ts boots no robot for: their own processes on the host, or their own robots (vm). */
type HostSuite = (log: (line: string) => void, opts: BenchOptions) => Promise<SuiteResult>;
const HOST_SUITES: Record<string, HostSuite> = {
  relay: relaySuite,
  vm: vmSuite,
};

const log = (s: string) => process.stderr.write(`${s}\n`);
const machine = () => ({ cpus: cpus().length, model: cpus()[0]?.model ?? "?", loadavg: loadavg() });
const mib = (b: number) => b / 2 ** 20;
const loads = (m: ReturnType<typeof machine>) => m.loadavg.map((l) => l.toFixed(1)).join(" ");

/** Boots the robot, runs the suite, takes the robot down; the agent's RSS around it goes with the result. */
async function runSuite(name: string, suite: Suite, opts: BenchOptions): Promise<SuiteResult> {
  const before = machine();
  const t0 = performance.now();
  const robot = await labUp(opts.robot, { log, ssh: true, nat: NAT_SUITES.has(name) });
  try {
    await waitForAgent(opts.robot, { timeoutMs: 60_000 });
    const idle = await agentMemory(opts.robot);
    const r = await suite({ robot, opts, log });
    const after = await agentMemory(opts.robot);
    const agent = { idleRssMiB: mib(idle.rss), peakRssMiB: mib(after.peak) };
    const seconds = (performance.now() - t0) / 1000;
    const m = machine();
    // Under its own key: a suite's keys (its own `seconds`, `agent`…) are never overwritten.
    const meta = {
      when: new Date().toISOString(),
      wallSeconds: seconds,
      machine: before,
      machineAfter: m,
      agent,
    };
    return {
      json: { ...r.json, meta },
      text: `## ${name}\n\n${r.text}\n\nagent RSS idle ${agent.idleRssMiB.toFixed(0)} MiB, peak ${agent.peakRssMiB.toFixed(0)} MiB; ${seconds.toFixed(0)} s; machine: ${m.cpus} × ${m.model}, load ${loads(before)} before, ${loads(m)} after`,
    };
  } finally {
    await labDown(opts.robot);
  }
}

async function runHostSuite(name: string, suite: HostSuite, opts: BenchOptions): Promise<SuiteResult> {
  const before = machine();
  const t0 = performance.now();
  const r = await suite(log, opts);
  const seconds = (performance.now() - t0) / 1000;
  const m = machine();
  const meta = { when: new Date().toISOString(), wallSeconds: seconds, machine: before, machineAfter: m };
  return {
    json: { ...r.json, meta },
    text: `## ${name}\n\n${r.text}\n\n${seconds.toFixed(0)} s; machine: ${m.cpus} × ${m.model}, load ${loads(before)} before, ${loads(m)} after`,
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), process.env, [
    ...Object.keys(SUITES),
    ...Object.keys(HOST_SUITES),
  ]);
  for (const name of opts.suites) {
    const suite = SUITES[name];
    const host = HOST_SUITES[name];
    const r = suite
      ? await runSuite(name, suite, opts)
      : host
        ? await runHostSuite(name, host, opts)
        : undefined;
    if (r === undefined) continue;
    // Written as each suite ends: a later suite's failure loses only its own.
    mergeResults(name, r.json);
    process.stdout.write(`${r.text}\n\n`);
  }
}

main().catch((e: unknown) => {
  log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = e instanceof UsageError ? 64 : 1;
});
