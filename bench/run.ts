// npm run bench: the push suite (our push against the export | import pipe), then the redeploy and rollback suites (suites/); see bench/README.md.
import { cpus, loadavg } from "node:os";
import { computeClosure, signPaths } from "../controller/src/closure/index.js";
import { labDown, labUp, waitForAgent } from "../integration-tests/lab/index.js";
import { agentClient } from "../integration-tests/support/controller.js";
import { buildClosure, type ClosureKind, closureKinds } from "./closure.js";
import { agentMemory, forget, measure, VARIANTS, type Variant } from "./measure.js";
import { median, summarize, table } from "./report.js";
import { deploySuites, mergeResults } from "./suites/index.js";

const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const RUNS = num("BENCH_RUNS", 3);
const MB = num("BENCH_MB", 500);
const PATHS = num("BENCH_PATHS", 200);
/** BENCH_PUSH_ROBOT: the push suite's robot (default pb-1). */
const ROBOT = process.env.BENCH_PUSH_ROBOT ?? "pb-1";
const KINDS = closureKinds(process.env.BENCH_CLOSURE);
/** BENCH_SUITES: any of push, redeploy, rollback (comma-separated; default all). */
const SUITES = new Set((process.env.BENCH_SUITES ?? "push,redeploy,rollback").split(","));
const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  for (const s of SUITES) {
    if (!["push", "redeploy", "rollback"].includes(s))
      throw new Error("BENCH_SUITES: push, redeploy, rollback");
  }
  if (SUITES.has("push")) await pushSuite();
  if (SUITES.has("redeploy") || SUITES.has("rollback"))
    await deploySuites({
      runs: RUNS,
      suites: SUITES,
      paths: num("BENCH_DEPLOY_PATHS", 200),
      mb: num("BENCH_DEPLOY_MB", 50),
      log,
    });
}

async function pushSuite(): Promise<void> {
  const robot = await labUp(ROBOT, { log });
  try {
    await waitForAgent(ROBOT, { timeoutMs: 60_000 });
    const client = agentClient(robot);
    const idle = await agentMemory(ROBOT);
    const runs: Record<string, Record<Variant, number>[]> = {};
    const chose: string[] = [];
    const wire: Record<string, Record<string, number[]>> = {};
    const mib: Record<string, number> = {};
    for (let n = 0; n < RUNS * KINDS.length; n++) {
      const r = Math.floor(n / KINDS.length);
      const kind = KINDS[n % KINDS.length] as ClosureKind;
      const closure = await buildClosure(kind, `${Date.now().toString(36)}-${r}`, PATHS, MB * 1024 * 1024);
      mib[kind] = closure.bytes / 2 ** 20;
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
        if (m.wireBytes !== undefined) {
          const w = wire[kind] ?? {};
          w[v] = [...(w[v] ?? []), m.wireBytes / 2 ** 20];
          wire[kind] = w;
        }
        log(
          `${kind} run ${r + 1}/${RUNS} ${v}: ${m.seconds.toFixed(2)} s${m.wireBytes === undefined ? "" : `, ${(m.wireBytes / 2 ** 20).toFixed(1)} MiB sent`}${m.chose ? ` (auto chose ${m.chose})` : ""}`,
        );
        await forget(ROBOT, infos.map((i) => i.storePath).reverse());
      }
      runs[kind] = [...(runs[kind] ?? []), times];
    }
    const after = await agentMemory(ROBOT);
    client.close();
    const result = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "?", loadavg: loadavg() },
      closure: { mb: MB, paths: PATHS + 1, runs: RUNS, kinds: KINDS, mibByKind: mib },
      variants: Object.fromEntries(KINDS.map((k) => [k, summarize(runs[k] ?? [], mib[k] ?? MB)])),
      autoChose: chose,
      /** Per kind and push variant: MiB of NarChunk data sent, per run. */
      wireMiB: wire,
      agent: { idleRssMiB: idle.rss / 2 ** 20, peakRssMiB: after.peak / 2 ** 20 },
    };
    for (const k of KINDS) {
      const sent = Object.entries(wire[k] ?? {}).map(([v, m]) => `${v} ${median(m).toFixed(1)}`);
      process.stdout.write(
        `### push, ${k} closure (${(mib[k] ?? 0).toFixed(0)} MiB)\n${table(result.variants[k] ?? [])}\nMiB sent (median): ${sent.join(", ")}\n\n`,
      );
    }
    process.stdout.write(
      `agent RSS idle ${result.agent.idleRssMiB.toFixed(0)} MiB, peak ${result.agent.peakRssMiB.toFixed(0)} MiB; auto chose ${chose.join(", ")}\n`,
    );
    mergeResults(result);
  } finally {
    await labDown(ROBOT);
  }
}

main().catch((e: unknown) => {
  log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
