import { UsageError } from "../../core/errors.js";
import { type Amount, formatAmount, type Strategy } from "../../report/strategy.js";

export const DEFAULT_STRATEGY: Strategy = {
  canary: 0,
  batch: { kind: "percent", p: 100 },
  maxParallel: 4,
  maxFailures: { kind: "count", n: 0 },
  minSample: 0,
  pauseSeconds: 0,
  rollbackOnAbort: false,
  strict: false,
};

/** How many robots of `total` an amount means (a share rounds up, at least 1 for batches). */
export function resolveAmount(a: Amount, total: number): number {
  return a.kind === "count" ? a.n : Math.ceil((a.p * total) / 100);
}

/** Robot indexes per wave: the canary alone, then batches. Pure. */
export function planWaves(total: number, s: Strategy): number[][] {
  const waves: number[][] = [];
  const canary = Math.min(s.canary, total);
  if (canary > 0) waves.push(range(0, canary));
  const size = Math.max(1, resolveAmount(s.batch, total));
  for (let i = canary; i < total; i += size) waves.push(range(i, Math.min(total, i + size)));
  return waves;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** "3" or "25%" (1–100%). */
export function parseAmount(text: string, option: string, command: string, allowZero: boolean): Amount {
  const m = /^(\d{1,9})(%?)$/.exec(text);
  const n = Number(m?.[1]);
  if (m === null || (m[2] === "%" ? n < 1 || n > 100 : n < (allowZero ? 0 : 1))) {
    throw new UsageError(
      `--${option}: expected a number${allowZero ? "" : " (1 or more)"} or a percentage (1-100%), got "${text.slice(0, 40)}"`,
      command,
    );
  }
  return m[2] === "%" ? { kind: "percent", p: n } : { kind: "count", n };
}

/**
 * The label every robot of a rollout records with its deployment: the
 * rollout's id and its strategy, so `rollout status|resume ID` can rebuild
 * the rollout from the robots alone. Printable ASCII, well under the
 * agent's 512 bytes.
 */
export function encodeLabel(id: string, s: Strategy): string {
  return [
    `rollout=${id}`,
    `canary=${s.canary}`,
    `batch=${formatAmount(s.batch)}`,
    `max-parallel=${s.maxParallel}`,
    `max-failures=${formatAmount(s.maxFailures)}`,
    `min-sample=${s.minSample}`,
    `pause=${s.pauseSeconds}`,
    `rollback-on-abort=${s.rollbackOnAbort ? 1 : 0}`,
    `strict=${s.strict ? 1 : 0}`,
  ].join(";");
}

/** The rollout id and strategy in a deployment's label, or undefined when it is not a rollout's. */
export function decodeLabel(label: string): { readonly id: string; readonly strategy: Strategy } | undefined {
  const fields = new Map(
    label.split(";").map((kv) => {
      const at = kv.indexOf("=");
      return [kv.slice(0, at), kv.slice(at + 1)] as const;
    }),
  );
  const id = fields.get("rollout");
  if (id === undefined || !ROLLOUT_ID.test(id)) return undefined;
  try {
    const num = (k: string) => {
      const v = fields.get(k) ?? "";
      if (!/^\d{1,9}$/.test(v)) throw new Error(k);
      return Number(v);
    };
    const amount = (k: string) => parseAmount(fields.get(k) ?? "", k, "rollout", true);
    return {
      id,
      strategy: {
        canary: num("canary"),
        batch: amount("batch"),
        maxParallel: num("max-parallel"),
        maxFailures: amount("max-failures"),
        minSample: num("min-sample"),
        pauseSeconds: num("pause"),
        rollbackOnAbort: fields.get("rollback-on-abort") === "1",
        strict: fields.get("strict") === "1",
      },
    };
  } catch {
    return undefined;
  }
}

export const ROLLOUT_ID = /^r-[0-9]{14}-[0-9a-f]{6}$/;

/** r-YYYYMMDDHHMMSS-xxxxxx (UTC; `random` gives the six hex digits). */
export function newRolloutId(now: number, random: () => number): string {
  const t = new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const hex = Math.floor(random() * 0x1000000)
    .toString(16)
    .padStart(6, "0");
  return `r-${t}-${hex}`;
}
