// The transfer suite: on each link, the same closure by every variant, BENCH_RUNS times in a
// rotated order, each from a robot without the closure.
import type { PathInfo } from "@ros-rollback/proto";
import { computeClosure, signPaths } from "../controller/src/closure/index.js";
import type { LabRobot } from "../integration-tests/lab/index.js";
import type { BenchOptions } from "./args.js";
import { type BenchClosure, buildClosureOfSizes, buildRandomClosure, deleteClosure } from "./closure.js";
import { type LinkName, openLink } from "./links/index.js";
import { forget } from "./measure.js";
import {
  type GoalResult,
  goalLines,
  judge,
  REFERENCE,
  type Run,
  summarize,
  table,
  type VariantSummary,
} from "./report.js";
import { appliesTo, measure } from "./variants/index.js";

export interface SuiteContext {
  robot: LabRobot;
  opts: BenchOptions;
  log: (line: string) => void;
}

export interface LinkResult {
  link: string;
  closure: { paths: number; mib: number };
  reference: string;
  variants: VariantSummary[];
  goals: GoalResult[];
  autoChose: string[];
  runs: Run[];
}

const MIB = 2 ** 20;

function closureFor(link: LinkName, opts: BenchOptions): Promise<BenchClosure> {
  const seed = `${link}-${Date.now().toString(36)}`;
  switch (link) {
    case "veth":
      return buildRandomClosure(seed, opts.veth.paths, opts.veth.mib * MIB);
    case "20mbit":
      return buildRandomClosure(seed, opts.slow.paths, opts.slow.mib * MIB);
    case "rtt50":
      return buildClosureOfSizes(seed, [
        ...Array.from({ length: opts.rtt.small }, () => Math.round(opts.rtt.smallKib * 1024)),
        ...Array.from({ length: opts.rtt.big }, () => Math.round(opts.rtt.bigMib * MIB)),
      ]);
  }
}

async function measureLink(link: LinkName, ctx: SuiteContext): Promise<LinkResult | undefined> {
  const { robot, opts, log } = ctx;
  const variants = opts.variants.filter((v) => appliesTo(v, link));
  if (variants.length === 0) {
    log(`bench ${link}: skipped, none of the variants runs there (pipe is veth only)`);
    return undefined;
  }
  const closure = await closureFor(link, opts);
  const runs: Run[] = [];
  const chose: string[] = [];
  try {
    const infos: PathInfo[] = await signPaths(
      await computeClosure(closure.root, AbortSignal.timeout(120_000)),
      robot.signingKey,
      AbortSignal.timeout(120_000),
    );
    const paths = infos.map((i) => i.storePath).reverse();
    const mib = closure.bytes / MIB;
    log(`bench ${link}: ${infos.length} paths, ${mib.toFixed(1)} MiB`);
    const open = await openLink(link, robot, { rate: opts.slow.rate, delayMs: opts.rtt.delayMs });
    try {
      for (let r = 0; r < opts.runs; r++) {
        const run: Run = {};
        // Rotated order: no variant always runs first (cold caches) or last.
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(k + r) % variants.length] as (typeof variants)[number];
          const m = await measure(v, open.target, { infos });
          run[v] = m.seconds;
          if (m.chose !== undefined) chose.push(m.chose);
          log(
            `${link} run ${r + 1}/${opts.runs} ${v}: ${m.seconds.toFixed(2)} s${m.chose ? ` (auto chose ${m.chose})` : ""}`,
          );
          await forget(robot.name, paths);
        }
        runs.push(run);
      }
    } finally {
      await open.close();
    }
    const rows = summarize(link, runs, mib);
    return {
      link: `${link}: ${open.describe}`,
      closure: { paths: infos.length, mib },
      reference: REFERENCE[link],
      variants: rows,
      goals: judge(link, rows),
      autoChose: chose,
      runs,
    };
  } finally {
    await deleteClosure(closure).catch((e: unknown) =>
      log(`bench: could not delete ${closure.root}: ${String(e)}`),
    );
  }
}

/** Runs every selected link; the results by link name and their tables. */
export async function transfers(
  ctx: SuiteContext,
): Promise<{ json: Partial<Record<LinkName, LinkResult>>; text: string }> {
  const json: Partial<Record<LinkName, LinkResult>> = {};
  const text: string[] = [];
  for (const link of ctx.opts.links) {
    const r = await measureLink(link, ctx);
    if (r === undefined) continue;
    json[link] = r;
    text.push(
      `### ${r.link}\n\n${r.closure.paths} paths, ${r.closure.mib.toFixed(1)} MiB, ${ctx.opts.runs} runs\n\n${table(link, r.variants)}\n\n${goalLines(r.goals)}${r.autoChose.length > 0 ? `\n- push-auto chose: ${r.autoChose.join(", ")}` : ""}`,
    );
  }
  return { json, text: text.join("\n\n") };
}
