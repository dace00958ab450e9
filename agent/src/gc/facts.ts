import { readlink } from "node:fs/promises";
import { resolve } from "node:path";
import type { DeploymentRecord } from "../deployment/record.js";
import { isFinal } from "../deployment/states.js";
import type { SystemProfile } from "../generations/profile.js";
import { type LedgerEntry, outcomesFor } from "./outcomes.js";
import type { RetentionFacts } from "./retention.js";

export interface FactSources {
  readonly profile: Pick<SystemProfile, "list">;
  readonly bootedSystemLink: string;
  readonly currentSystemLink: string;
  /** The latest deployment record, finished or not. */
  readonly latest: () => DeploymentRecord | undefined;
  readonly ledger: { read(): Promise<Map<number, LedgerEntry>> };
}

/** What the retention policy is applied to, read from the robot now. */
export async function readFacts(s: FactSources): Promise<RetentionFacts> {
  const [gens, booted, running, ledger] = await Promise.all([
    s.profile.list(),
    linkTarget(s.bootedSystemLink),
    linkTarget(s.currentSystemLink),
    s.ledger.read(),
  ]);
  const r = s.latest();
  return {
    generations: gens,
    current: gens.find((g) => g.current)?.number,
    bootedSystem: booted,
    runningSystem: running,
    previous: r !== undefined && r.previous.generation > 0 ? r.previous.generation : undefined,
    held: r === undefined ? new Set() : heldBy(r),
    // Restoring a deployment's snapshots means returning to the generation it started from.
    snapshotReferenced: new Set(
      r !== undefined && (r.snapshots?.length ?? 0) > 0 && r.previous.generation > 0
        ? [r.previous.generation]
        : [],
    ),
    outcomes: outcomesFor(ledger, gens),
  };
}

function heldBy(r: DeploymentRecord): Set<number> {
  if (isFinal(r.state)) return new Set();
  return new Set([r.generation, r.previous.generation].filter((g): g is number => g !== undefined && g > 0));
}

async function linkTarget(link: string): Promise<string | undefined> {
  try {
    return resolve(link, "..", await readlink(link));
  } catch {
    return undefined;
  }
}
