// Median, min and max of a suite's runs, and a markdown table of them.
import { median } from "../report.js";

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
}

export function stat(xs: readonly number[]): Stat {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: [...xs] };
}

/** One row per measure: `| name | median | min | max | unit |`. */
export function statTable(rows: Readonly<Record<string, Stat>>, unit = "s", digits = 2): string {
  const f = (x: number) => x.toFixed(digits);
  return [
    `| measure | median ${unit} | min ${unit} | max ${unit} | runs |`,
    "|---|---|---|---|---|",
    ...Object.entries(rows).map(
      ([name, s]) => `| ${name} | ${f(s.median)} | ${f(s.min)} | ${f(s.max)} | ${s.runs.length} |`,
    ),
  ].join("\n");
}
