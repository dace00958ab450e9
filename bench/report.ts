import type { Variant } from "./measure.js";

export interface VariantSummary {
  readonly variant: Variant;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly mbPerSecond: number;
  /** Median over runs of (this variant's time ÷ the pipe's time in the same run). */
  readonly ratioToPipe: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export function summarize(runs: readonly Record<Variant, number>[], mb: number): VariantSummary[] {
  const variants = Object.keys(runs[0] ?? {}) as Variant[];
  return variants.map((v) => {
    const t = runs.map((r) => r[v]);
    const m = median(t);
    return {
      variant: v,
      median: m,
      min: Math.min(...t),
      max: Math.max(...t),
      mbPerSecond: mb / m,
      ratioToPipe: median(runs.map((r) => r[v] / r.pipe)),
    };
  });
}

export function table(rows: readonly VariantSummary[]): string {
  const f = (x: number) => x.toFixed(2);
  return [
    "| variant | median s | min s | max s | MiB/s | ÷ pipe (per run, median) |",
    "|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.variant} | ${f(r.median)} | ${f(r.min)} | ${f(r.max)} | ${r.mbPerSecond.toFixed(0)} | ${f(r.ratioToPipe)} |`,
    ),
  ].join("\n");
}
