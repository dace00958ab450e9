// The bench's one report format: median, min and max over the runs, as markdown tables. For the
// transfers, per link: ratios taken inside each run, then their median, and issue 13's goals.
import type { LinkName } from "./links/names.js";
import { FLOORS, PUSHES, type Variant } from "./variants/names.js";

/** Seconds per variant, one record per run. */
export type Run = Partial<Record<Variant, number>>;

export interface VariantSummary {
  readonly variant: Variant;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly mibPerSecond: number;
  /** Median over runs of this time ÷ the link's reference pipe in the same run. */
  readonly ratioToPipe?: number;
  /** Median over runs of nix-copy's time ÷ this time in the same run (> 1: faster than nix copy). */
  readonly nixCopySpeedup?: number;
  /** Pushes: median MiB of NarChunk data sent. */
  readonly wireMiB?: number;
}

/** The pipe a link's push is held against: the one a user would run there. */
export const REFERENCE: Record<LinkName, Variant> = {
  veth: "pipe",
  "20mbit": "ssh-zstd-pipe",
  rtt50: "ssh-pipe",
};

/** Issue 13's goals per link. */
export const GOALS: Record<LinkName, { maxRatioToPipe?: number; minNixCopySpeedup: number }> = {
  veth: { maxRatioToPipe: 1.2, minNixCopySpeedup: 1.5 },
  "20mbit": { maxRatioToPipe: 1.05, minNixCopySpeedup: 2.3 },
  rtt50: { minNixCopySpeedup: 3 },
};

export interface GoalResult {
  readonly goal: string;
  /** What the pushes are held against. */
  readonly baseline: Variant;
  /** Per push variant measured: its value and whether it meets the goal. */
  readonly pushes: { variant: Variant; value: number; met: boolean }[];
  /** The goal is met by the default (`push-auto`); undefined when it was not measured. */
  readonly met?: boolean;
  /** The nix-copy goal against the robot's own import, per floor variant measured. */
  readonly floors?: FloorVerdict[];
}

/** A speed goal held against what the robot's Nix alone needs to import the closure. */
export interface FloorVerdict {
  readonly variant: Variant;
  /** Median over runs of nix-copy's time ÷ the floor's. */
  readonly nixCopySpeedup: number;
  /** nixCopySpeedup ÷ the goal: the most a transfer may take, in floor times, to meet the goal. */
  readonly allowedOverFloor: number;
  /** The goal asks for less time than the floor takes (floor > nix copy ÷ goal): no transfer importing so meets it. */
  readonly goalBelowFloor: boolean;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Median of f over the runs where f is defined; undefined if none is. */
function medianOf(runs: readonly Run[], f: (r: Run) => number | undefined): number | undefined {
  const xs = runs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return xs.length === 0 ? undefined : median(xs);
}

export function summarize(
  link: LinkName,
  runs: readonly Run[],
  mib: number,
  sent: Partial<Record<Variant, readonly number[]>> = {},
): VariantSummary[] {
  const ref = REFERENCE[link];
  const seen = new Set(runs.flatMap((r) => Object.keys(r) as Variant[]));
  return [...seen].map((v) => {
    const t = runs.map((r) => r[v]).filter((x): x is number => x !== undefined);
    const m = median(t);
    const ratioToPipe = medianOf(runs, (r) =>
      r[v] === undefined || r[ref] === undefined ? undefined : r[v] / r[ref],
    );
    const nixCopySpeedup = medianOf(runs, (r) =>
      r[v] === undefined || r["nix-copy"] === undefined ? undefined : r["nix-copy"] / r[v],
    );
    const wire = sent[v];
    return {
      variant: v,
      median: m,
      min: Math.min(...t),
      max: Math.max(...t),
      mibPerSecond: mib / m,
      ...(ratioToPipe === undefined ? {} : { ratioToPipe }),
      ...(nixCopySpeedup === undefined ? {} : { nixCopySpeedup }),
      ...(wire === undefined || wire.length === 0 ? {} : { wireMiB: median(wire) }),
    };
  });
}

export function judge(link: LinkName, rows: readonly VariantSummary[]): GoalResult[] {
  const goals = GOALS[link];
  const pushes = rows.filter((r) => (PUSHES as readonly Variant[]).includes(r.variant));
  const result = (
    goal: string,
    baseline: Variant,
    pick: (r: VariantSummary) => number | undefined,
    ok: (x: number) => boolean,
  ) => {
    const measured = pushes.flatMap((r) => {
      const value = pick(r);
      return value === undefined ? [] : [{ variant: r.variant, value, met: ok(value) }];
    });
    const auto = measured.find((p) => p.variant === "push-auto");
    return { goal, baseline, pushes: measured, ...(auto === undefined ? {} : { met: auto.met }) };
  };
  const out: GoalResult[] = [];
  const max = goals.maxRatioToPipe;
  if (max !== undefined) {
    out.push(
      result(
        `push ≤ ${max}× ${REFERENCE[link]}`,
        REFERENCE[link],
        (r) => r.ratioToPipe,
        (x) => x <= max,
      ),
    );
  }
  const min = goals.minNixCopySpeedup;
  const floors = rows.flatMap((r): FloorVerdict[] =>
    (FLOORS as readonly Variant[]).includes(r.variant) && r.nixCopySpeedup !== undefined
      ? [
          {
            variant: r.variant,
            nixCopySpeedup: r.nixCopySpeedup,
            allowedOverFloor: r.nixCopySpeedup / min,
            goalBelowFloor: r.nixCopySpeedup < min,
          },
        ]
      : [],
  );
  const speed = result(
    `push ≥ ${min}× faster than nix-copy`,
    "nix-copy",
    (r) => r.nixCopySpeedup,
    (x) => x >= min,
  );
  out.push(floors.length === 0 ? speed : { ...speed, floors });
  return out;
}

const f = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(2));

export function table(link: LinkName, rows: readonly VariantSummary[]): string {
  return [
    `| ${link} | median s | min s | max s | MiB/s | ÷ ${REFERENCE[link]} | × faster than nix-copy | MiB sent |`,
    "|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.variant} | ${f(r.median)} | ${f(r.min)} | ${f(r.max)} | ${r.mibPerSecond.toFixed(1)} | ${f(r.ratioToPipe)} | ${f(r.nixCopySpeedup)} | ${r.wireMiB === undefined ? "–" : r.wireMiB.toFixed(1)} |`,
    ),
  ].join("\n");
}

export function goalLines(goals: readonly GoalResult[]): string {
  return goals
    .map((g) => {
      if (g.pushes.length === 0)
        return `- goal ${g.goal}: not measured (needs ${g.baseline} and a push)${floorLine(g.floors)}`;
      const verdict = g.met === undefined ? "push-auto not measured" : g.met ? "met" : "UNMET";
      const each = g.pushes.map((p) => `${p.variant} ${p.value.toFixed(2)}${p.met ? " ✓" : " ✗"}`);
      return `- goal ${g.goal}: ${verdict} (${each.join(", ")})${floorLine(g.floors)}`;
    })
    .join("\n");
}

function floorLine(floors: readonly FloorVerdict[] | undefined): string {
  if (floors === undefined || floors.length === 0) return "";
  const each = floors.map(
    (v) =>
      `${v.variant} ${v.nixCopySpeedup.toFixed(2)}× faster than nix-copy: ${
        v.goalBelowFloor
          ? `the goal is BELOW this floor (a transfer would have to take ${v.allowedOverFloor.toFixed(2)}× its time)`
          : `the goal is above this floor (a transfer may take up to ${v.allowedOverFloor.toFixed(2)}× its time)`
      }`,
  );
  return `\n  - the robot's own import: ${each.join("; ")}`;
}

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: readonly number[];
}

export function stat(xs: readonly number[]): Stat {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: [...xs] };
}

/** One row per measure: `| name | median | min | max | runs |`. */
export function statTable(rows: Readonly<Record<string, Stat>>, unit = "s", digits = 2): string {
  const g = (x: number) => x.toFixed(digits);
  return [
    `| measure | median ${unit} | min ${unit} | max ${unit} | runs |`,
    "|---|---|---|---|---|",
    ...Object.entries(rows).map(
      ([name, s]) => `| ${name} | ${g(s.median)} | ${g(s.min)} | ${g(s.max)} | ${s.runs.length} |`,
    ),
  ].join("\n");
}
