// Sums BENCH_RELAY_PROF's CPU profiles by function (self time), per part, within a time window:
//   npx tsx bench/relay/prof-top.ts DIR [FROM_US TO_US] [TOP]
// The window is a status --all run's `window` in the suite's JSON (the profiles' own clock).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self milliseconds by "function file:line" of the samples in [from, to] (µs). */
export function selfTime(p: Profile, from = 0, to = Number.POSITIVE_INFINITY): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) return;
    const f = byId.get(id)?.callFrame;
    const key = f
      ? `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`
      : "?";
    out.set(key, (out.get(key) ?? 0) + dt / 1000);
  });
  return out;
}

const [dir, fromArg, toArg, topArg] = process.argv.slice(2);
if (dir !== undefined) {
  const from = fromArg === undefined ? 0 : Number(fromArg);
  const to = toArg === undefined ? Number.POSITIVE_INFINITY : Number(toArg);
  for (const part of readdirSync(dir)) {
    const total = new Map<string, number>();
    for (const f of readdirSync(join(dir, part)).filter((f) => f.endsWith(".cpuprofile"))) {
      const p = JSON.parse(readFileSync(join(dir, part, f), "utf8")) as Profile;
      for (const [k, v] of selfTime(p, from, to)) total.set(k, (total.get(k) ?? 0) + v);
    }
    const rows = [...total].sort((a, b) => b[1] - a[1]);
    const sum = rows.reduce((a, [, v]) => a + v, 0);
    process.stdout.write(`\n${part}: ${sum.toFixed(0)} ms of samples\n`);
    for (const [k, v] of rows.slice(0, Number(topArg ?? 25)))
      process.stdout.write(`${v.toFixed(0).padStart(7)}  ${k}\n`);
  }
}
