import { statfs } from "node:fs/promises";
import type { Logger } from "pino";
import type { DeploymentRecord } from "../deployment/record.js";
import { AgentError } from "../errors.js";
import type { SystemProfile } from "../generations/profile.js";
import type { RootFence } from "./fence.js";
import type { KeepReason, RemoveReason, RetentionFacts, RetentionPolicy } from "./retention.js";
import { planRetention } from "./retention.js";
import type { StoreGc } from "./store-gc.js";

export interface GcReport {
  readonly dryRun: boolean;
  readonly kept: readonly { readonly number: number; readonly reasons: readonly KeepReason[] }[];
  readonly removed: readonly { readonly number: number; readonly reason: RemoveReason }[];
  readonly deletedPaths: number;
  readonly freedBytes: number;
  readonly durationMs: number;
}

/** What the collector tells metrics (gc/metrics.ts). */
export interface GcObserver {
  done(report: GcReport): void;
  failed(): void;
}

export interface CollectorDeps {
  readonly policy: RetentionPolicy;
  readonly profile: Pick<SystemProfile, "delete">;
  readonly facts: () => Promise<RetentionFacts>;
  readonly storeGc: StoreGc;
  /** Nix's GC runs through it: taking roots stops it (gc/fence.ts). */
  readonly fence: Pick<RootFence, "collect">;
  /** Drops the roots of deployments that ended (gc/roots.ts), before the plan is made. */
  readonly pruneRoots?: () => Promise<void>;
  /** The admission gate: maintenance never beside a deployment, and a deployment stops it. */
  readonly gate: {
    runYielding<T>(label: string, stop: () => Promise<void>, work: () => Promise<T>): Promise<T>;
  };
  readonly timeoutSeconds: number;
  readonly maxFreedBytes: number | undefined;
  readonly now: () => number;
  readonly log: Logger;
  readonly observer?: GcObserver | undefined;
}

/**
 * Deletes the generations the retention policy does not keep, then collects the store: after a
 * deployment ended (kept or rolled back) and on request (`ros-rollback gc`).
 */
export class Collector {
  private scheduled: Promise<void> | undefined;
  private again = false;

  constructor(private readonly deps: CollectorDeps) {}

  /** Refused (FAILED_PRECONDITION) while a deployment runs; stopped by one that is admitted. */
  async collect(dryRun: boolean): Promise<GcReport> {
    const started = this.deps.now();
    const unit = `ros-rollback-gc-${started}`;
    let stopped = false;
    let running: (() => Promise<void>) | undefined;
    let settled = () => {};
    const done = new Promise<void>((r) => {
      settled = r;
    });
    // Resolves once the gate is given back: the deployment that stopped us enters right after.
    const stop = async () => {
      stopped = true;
      await running?.();
      await done;
    };
    try {
      const report = await this.deps.gate.runYielding("garbage collection", stop, async () => {
        if (!dryRun) await this.deps.pruneRoots?.();
        const plan = planRetention(this.deps.policy, await this.deps.facts());
        if (dryRun || stopped) return { plan, deletedPaths: 0, freedBytes: 0 };
        for (const g of plan.remove) {
          if (stopped) break;
          await this.deps.profile.delete(g.number);
        }
        if (stopped) return { plan, deletedPaths: 0, freedBytes: 0 };
        const gc = this.deps.fence.collect(
          () =>
            this.deps.storeGc.collect({
              unit,
              timeoutSeconds: this.deps.timeoutSeconds,
              maxFreedBytes: this.deps.maxFreedBytes,
            }),
          () =>
            this.deps.storeGc.stop(unit).catch((e: unknown) => {
              this.deps.log.warn({ err: e, unit }, "could not stop the garbage collection");
            }),
        );
        if (gc === undefined) {
          // A query or substitution is rooting paths: the next collection will see those roots.
          this.deps.log.info("garbage collection of the store skipped: paths are being rooted");
          return { plan, deletedPaths: 0, freedBytes: 0 };
        }
        running = gc.stop;
        const result = await gc.result.catch((e: unknown) => {
          if (stopped || gc.stopped()) return { deletedPaths: 0, freedBytes: 0 };
          throw e;
        });
        return { plan, ...result };
      });
      const out: GcReport = {
        dryRun,
        kept: report.plan.keep,
        removed: report.plan.remove,
        deletedPaths: report.deletedPaths,
        freedBytes: report.freedBytes,
        durationMs: this.deps.now() - started,
      };
      if (!dryRun) this.deps.observer?.done(out);
      return out;
    } catch (e) {
      if (!(e instanceof AgentError && e.code === "FAILED_PRECONDITION")) this.deps.observer?.failed();
      throw e;
    } finally {
      settled();
    }
  }

  /** Called with every record: a deployment that ended kept or rolled back is followed by a collection. */
  onDeployment(r: DeploymentRecord): void {
    if (r.state !== "succeeded" && r.state !== "rolled_back") return;
    this.schedule();
  }

  /** Runs a collection soon, one at a time; one asked for meanwhile runs after it. */
  schedule(): void {
    if (this.scheduled !== undefined) {
      this.again = true;
      return;
    }
    this.scheduled = this.runScheduled().finally(() => {
      this.scheduled = undefined;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    });
  }

  /** Resolves once the scheduled collections ended (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.scheduled !== undefined) await this.scheduled;
  }

  private async runScheduled(): Promise<void> {
    // After the current turn: the record that triggered this is persisted and reported first.
    await new Promise((r) => setImmediate(r));
    try {
      const report = await this.collect(false);
      this.deps.log.info(
        {
          removedGenerations: report.removed.map((g) => g.number),
          deletedPaths: report.deletedPaths,
          freedBytes: report.freedBytes,
          durationMs: report.durationMs,
        },
        `garbage collection: ${report.removed.length} generation(s) deleted, ${report.freedBytes} bytes freed`,
      );
    } catch (e) {
      this.deps.log.warn({ err: e }, "garbage collection after the deployment did not run to its end");
    }
  }
}

/** Free and total bytes of the filesystem holding `path` (undefined when it cannot be read). */
export async function filesystemSpace(path: string): Promise<{ free: number; size: number } | undefined> {
  try {
    const s = await statfs(path);
    return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
  } catch {
    return undefined;
  }
}
