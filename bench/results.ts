// bench/results/latest.json: one key per suite; a run replaces the keys of the suites it ran and
// keeps the others.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const RESULTS = new URL("./results/latest.json", import.meta.url);

export function mergeResults(suite: string, json: Record<string, unknown>, file = RESULTS): void {
  const old = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  mkdirSync(new URL("./", file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...old, [suite]: json }, null, 2)}\n`);
}
