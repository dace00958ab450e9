import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { DeploymentRecord } from "../deployment/record.js";
import { writeFileAtomic } from "../files/atomic-file.js";
import type { Outcome } from "./retention.js";

/** Generations remembered; older ones are beyond any retention anyway. */
const MAX_ENTRIES = 200;

/** An outcome belongs to a generation number AND its store path: nix-env reuses a deleted top number. */
export interface LedgerEntry {
  readonly outcome: Outcome;
  readonly storePath: string;
}

/**
 * How each generation the agent deployed ended (`stateDir/generations.json`): the retention
 * policy removes those that never succeeded, which `--delete-generations +N` would keep.
 */
export class OutcomeLedger {
  private readonly file: string;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly stateDir: string) {
    this.file = join(stateDir, "generations.json");
  }

  /** A missing or unreadable ledger is empty: every generation then counts as not failed. */
  async read(): Promise<Map<number, LedgerEntry>> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch {
      return new Map();
    }
    const out = new Map<number, LedgerEntry>();
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null) return out;
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
        if (!/^\d+$/.test(k) || typeof v !== "object" || v === null) continue;
        const { outcome, storePath } = v as Record<string, unknown>;
        if ((outcome === "good" || outcome === "failed") && typeof storePath === "string") {
          out.set(Number(k), { outcome, storePath });
        }
      }
    } catch {
      // A damaged ledger forgets outcomes: generations are then kept by count, never lost early.
    }
    return out;
  }

  /** Records the outcome of a final activation record (once it is final; others are ignored). */
  record(r: DeploymentRecord): Promise<void> {
    const entry = outcomeOf(r);
    if (entry === undefined) return Promise.resolve();
    const next = this.writes.then(async () => {
      const all = await this.read();
      const had = all.get(entry.generation);
      if (had?.outcome === entry.outcome && had.storePath === r.storePath) return;
      all.set(entry.generation, { outcome: entry.outcome, storePath: r.storePath });
      const kept = [...all.entries()].sort((a, b) => b[0] - a[0]).slice(0, MAX_ENTRIES);
      await writeFileAtomic(this.stateDir, this.file, JSON.stringify(Object.fromEntries(kept)));
    });
    this.writes = next.catch(() => undefined);
    return next;
  }
}

/** A kept activation made a good generation; one rolled back or left failed made a failed one. */
export function outcomeOf(r: DeploymentRecord): { generation: number; outcome: Outcome } | undefined {
  if (r.kind !== "activate" || r.generation === undefined || r.generation === r.previous.generation) {
    return undefined;
  }
  if (r.state === "succeeded") return { generation: r.generation, outcome: "good" };
  if (r.state === "rolled_back" || r.state === "failed" || r.state === "rollback_failed") {
    return { generation: r.generation, outcome: "failed" };
  }
  return undefined;
}

/** The outcomes that still describe the profile's generations (same number, same store path). */
export function outcomesFor(
  ledger: ReadonlyMap<number, LedgerEntry>,
  generations: readonly { readonly number: number; readonly storePath: string }[],
): Map<number, Outcome> {
  const out = new Map<number, Outcome>();
  for (const g of generations) {
    const e = ledger.get(g.number);
    if (e !== undefined && e.storePath === g.storePath) out.set(g.number, e.outcome);
  }
  return out;
}
