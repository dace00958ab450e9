// The transfers suite: on each link and closure kind, the same closure by every variant,
// BENCH_RUNS times in a rotated order, each from a robot without the closure.
import type { PathInfo } from "@ros-rollback/proto";
import { computeClosure, signPaths } from "../../controller/src/closure/index.js";
import type { BenchOptions } from "../args.js";
import {
  type BenchClosure,
  buildClosure,
  buildClosureOfSizes,
  type ClosureKind,
  deleteClosure,
} from "../closure.js";
import { type LinkName, openLink } from "../links/index.js";
import { forget } from "../measure.js";
import {
  type GoalResult,
  goalLines,
  judge,
  REFERENCE,
  type Run,
  summarize,
  table,
  type VariantSummary,
} from "../report.js";
import { appliesTo, measure, type Variant } from "../variants/index.js";
import type { SuiteContext, SuiteResult } from "./suite.js";

export interface LinkResult {
  link: string;
  closure: { kind: ClosureKind; paths: number; mib: number };
  reference: string;
  variants: VariantSummary[];
  goals: GoalResult[];
  autoChose: string[];
  runs: Run[];
}

const MIB = 2 ** 20;

/** The closure kinds measured on a link: rtt50's point is its many small paths, random ones. */
function kindsOn(link: LinkName, opts: BenchOptions): readonly ClosureKind[] {
  return link === "veth" ? opts.veth.kinds : link === "20mbit" ? opts.slow.kinds : ["random"];
}

function closureFor(link: LinkName, kind: ClosureKind, opts: BenchOptions): Promise<BenchClosure> {
  const seed = `${link}-${kind}-${Date.now().toString(36)}`;
  switch (link) {
    case "veth":
      return buildClosure(kind, seed, opts.veth.paths, opts.veth.mib * MIB);
    case "20mbit":
      return buildClosure(kind, seed, opts.slow.paths, opts.slow.mib * MIB);
    case "rtt50":
      return buildClosureOfSizes(seed, [
        ...Array.from({ length: opts.rtt.small }, () => Math.round(opts.rtt.smallKib * 1024)),
        ...Array.from({ length: opts.rtt.big }, () => Math.round(opts.rtt.bigMib * MIB)),
      ]);
  }
}

async function measureLink(
  link: LinkName,
  kind: ClosureKind,
  variants: readonly Variant[],
  ctx: SuiteContext,
): Promise<LinkResult> {
  const { robot, opts, log } = ctx;
  const closure = await closureFor(link, kind, opts);
  const runs: Run[] = [];
  const sent: Partial<Record<Variant, number[]>> = {};
  const chose: string[] = [];
  try {
    const infos: PathInfo[] = await signPaths(
      await computeClosure(closure.root, AbortSignal.timeout(120_000)),
      robot.signingKey,
      AbortSignal.timeout(120_000),
    );
    const paths = infos.map((i) => i.storePath).reverse();
    const mib = closure.bytes / MIB;
    log(`bench ${link}, ${kind} closure: ${infos.length} paths, ${mib.toFixed(1)} MiB`);
    const open = await openLink(link, robot, { rate: opts.slow.rate, delayMs: opts.rtt.delayMs });
    try {
      for (let r = 0; r < opts.runs; r++) {
        const run: Run = {};
        // Rotated order: no variant always runs first (cold caches) or last.
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(k + r) % variants.length] as Variant;
          const m = await measure(v, open.target, { infos });
          run[v] = m.seconds;
          if (m.chose !== undefined) chose.push(m.chose);
          if (m.wireBytes !== undefined) sent[v] = [...(sent[v] ?? []), m.wireBytes / MIB];
          log(
            `${link} ${kind} run ${r + 1}/${opts.runs} ${v}: ${m.seconds.toFixed(2)} s${m.wireBytes === undefined ? "" : `, ${(m.wireBytes / MIB).toFixed(1)} MiB sent`}${m.cpuSeconds === undefined ? "" : `, CPU ${m.cpuSeconds.toFixed(2)} s in the robot`}${m.chose ? ` (auto chose ${m.chose}: ${(m.why ?? []).join("; ")})` : ""}`,
          );
          await forget(robot.name, paths);
        }
        runs.push(run);
      }
    } finally {
      await open.close();
    }
    const rows = summarize(link, runs, mib, sent);
    return {
      link: `${link}: ${open.describe}`,
      closure: { kind, paths: infos.length, mib },
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

/** Every selected link × its closure kinds; the results by link and kind, and their tables. */
export async function transfers(ctx: SuiteContext): Promise<SuiteResult> {
  const json: Partial<Record<LinkName, Partial<Record<ClosureKind, LinkResult>>>> = {};
  const text: string[] = [];
  for (const link of ctx.opts.links) {
    const variants = ctx.opts.variants.filter((v) => appliesTo(v, link));
    if (variants.length === 0) {
      ctx.log(`bench ${link}: skipped, none of the variants runs there (pipe and the floors are veth only)`);
      continue;
    }
    for (const kind of kindsOn(link, ctx.opts)) {
      const r = await measureLink(link, kind, variants, ctx);
      json[link] = { ...json[link], [kind]: r };
      text.push(
        `### ${r.link}, ${kind} closure\n\n${r.closure.paths} paths, ${r.closure.mib.toFixed(1)} MiB, ${ctx.opts.runs} runs\n\n${table(link, r.variants)}\n\n${goalLines(r.goals)}${r.autoChose.length > 0 ? `\n- push-auto chose: ${r.autoChose.join(", ")}` : ""}`,
      );
    }
  }
  return { json, text: text.join("\n\n") };
}
