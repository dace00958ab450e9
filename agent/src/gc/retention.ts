/**
 * Which system profile generations a garbage collection may delete: a pure function of what
 * the agent knows, so every combination is unit-tested (retention.test.ts).
 */

export interface RetentionPolicy {
  /** The newest generations not known to have failed that are kept, whatever else is kept. */
  readonly keepGenerations: number;
}

/** What the agent learnt of a generation it deployed; generations made by hand have none. */
export type Outcome = "good" | "failed";

export interface RetentionFacts {
  /** Every generation of the profile, with the store path it points at. */
  readonly generations: readonly { readonly number: number; readonly storePath: string }[];
  /** The profile's current generation (nix-env refuses to delete it). */
  readonly current: number | undefined;
  /** Store path the robot booted (/run/booted-system). */
  readonly bootedSystem: string | undefined;
  /** Store path running now (/run/current-system). */
  readonly runningSystem: string | undefined;
  /** The previous generation recorded by the latest deployment: where a rollback returns to. */
  readonly previous: number | undefined;
  /** Generations an unfinished deployment still needs. */
  readonly held: ReadonlySet<number>;
  /** Generations a kept data snapshot belongs to (restoring it means returning there). */
  readonly snapshotReferenced: ReadonlySet<number>;
  readonly outcomes: ReadonlyMap<number, Outcome>;
}

export type KeepReason = "current" | "held" | "booted" | "running" | "previous" | "snapshot" | "recent";
export type RemoveReason = "failed" | "beyond-policy";

export interface RetentionPlan {
  readonly keep: readonly { readonly number: number; readonly reasons: readonly KeepReason[] }[];
  readonly remove: readonly { readonly number: number; readonly reason: RemoveReason }[];
}

/**
 * A generation that never succeeded goes even when it is booted, running, previous or has a
 * snapshot (after a rollback it must not stay a boot entry, and `--delete-generations +N`
 * would keep it): only the current one (nix-env cannot delete it) and one an unfinished
 * deployment holds stay. Otherwise: current, held, booted, running (the newest generation of
 * that store path), previous and snapshot-referenced generations are kept, and the newest
 * `keepGenerations` of the rest that are not known to have failed.
 */
export function planRetention(policy: RetentionPolicy, facts: RetentionFacts): RetentionPlan {
  const keep: { number: number; reasons: KeepReason[] }[] = [];
  const remove: { number: number; reason: RemoveReason }[] = [];
  const newestFirst = [...facts.generations].sort((a, b) => b.number - a.number);
  let recent = 0;
  // A store path kept by a newer generation needs no older one for booted / running.
  const keptPaths = new Set<string>();
  for (const g of newestFirst) {
    const reasons: KeepReason[] = [];
    if (g.number === facts.current) reasons.push("current");
    if (facts.held.has(g.number)) reasons.push("held");
    const failed = facts.outcomes.get(g.number) === "failed";
    if (failed && reasons.length === 0) {
      remove.push({ number: g.number, reason: "failed" });
      continue;
    }
    if (!failed) {
      const newer = keptPaths.has(g.storePath);
      if (g.storePath === facts.bootedSystem && !newer) reasons.push("booted");
      if (g.storePath === facts.runningSystem && !newer) reasons.push("running");
      if (g.number === facts.previous) reasons.push("previous");
      if (facts.snapshotReferenced.has(g.number)) reasons.push("snapshot");
      if (recent < policy.keepGenerations) {
        recent++;
        reasons.push("recent");
      }
    }
    if (reasons.length > 0) {
      keep.push({ number: g.number, reasons });
      keptPaths.add(g.storePath);
    } else remove.push({ number: g.number, reason: "beyond-policy" });
  }
  keep.sort((a, b) => a.number - b.number);
  remove.sort((a, b) => a.number - b.number);
  return { keep, remove };
}
