// npm run bench: our push against the export | import pipe on a fresh lab robot; see bench/README.md.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { computeClosure, signPaths } from "../controller/src/closure/index.js";
import { labDown, labUp, waitForAgent } from "../integration-tests/lab/index.js";
import { agentClient } from "../integration-tests/support/controller.js";
import { agentSuite, agentTable } from "./agent.js";
import { buildRandomClosure } from "./closure.js";
import { agentMemory, forget, measure, VARIANTS, type Variant } from "./measure.js";
import { summarize, table } from "./report.js";

const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const RUNS = num("BENCH_RUNS", 3);
const MB = num("BENCH_MB", 500);
const PATHS = num("BENCH_PATHS", 200);
const ROBOT = "pb-1";
const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const robot = await labUp(ROBOT, { log });
  try {
    await waitForAgent(ROBOT, { timeoutMs: 60_000 });
    const client = agentClient(robot);
    const idle = await agentMemory(ROBOT);
    const runs: Record<Variant, number>[] = [];
    const chose: string[] = [];
    for (let r = 0; r < RUNS; r++) {
      const closure = await buildRandomClosure(`${Date.now().toString(36)}-${r}`, PATHS, MB * 1024 * 1024);
      const infos = await signPaths(
        await computeClosure(closure.root, AbortSignal.timeout(120_000)),
        robot.signingKey,
        AbortSignal.timeout(120_000),
      );
      const times = {} as Record<Variant, number>;
      // Rotated order: no variant always runs first (cold caches) or last.
      for (let k = 0; k < VARIANTS.length; k++) {
        const v = VARIANTS[(k + r) % VARIANTS.length] as Variant;
        const m = await measure(v, { robot: ROBOT, client, infos });
        times[v] = m.seconds;
        if (m.chose !== undefined) chose.push(m.chose);
        log(
          `run ${r + 1}/${RUNS} ${v}: ${m.seconds.toFixed(2)} s${m.chose ? ` (auto chose ${m.chose})` : ""}`,
        );
        await forget(ROBOT, infos.map((i) => i.storePath).reverse());
      }
      runs.push(times);
    }
    const after = await agentMemory(ROBOT);
    client.close();
    // The agent's footprint and deploy overhead, on a robot of its own (BENCH_AGENT=0 skips it).
    const agent = process.env.BENCH_AGENT === "0" ? undefined : await agentSuite({ log });
    const result = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "?", loadavg: loadavg() },
      closure: { mb: MB, paths: PATHS + 1, runs: RUNS },
      variants: summarize(runs, MB),
      autoChose: chose,
      agent: { idleRssMiB: idle.rss / 2 ** 20, peakRssMiB: after.peak / 2 ** 20 },
      agentSuite: agent,
    };
    process.stdout.write(`${table(result.variants)}\n`);
    process.stdout.write(
      `agent RSS idle ${result.agent.idleRssMiB.toFixed(0)} MiB, peak ${result.agent.peakRssMiB.toFixed(0)} MiB; auto chose ${chose.join(", ")}\n`,
    );
    if (agent !== undefined) process.stdout.write(`${agentTable(agent)}\n`);
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeFileSync(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await labDown(ROBOT);
  }
}

main().catch((e: unknown) => {
  log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
