import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { PREFIX } from "../metrics/registry.js";
import type { GcObserver, GcReport } from "./collector.js";

const GC_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Free and total bytes of the filesystem holding the path; undefined when unreadable. */
export type SpaceReader = (path: string) => Promise<{ free: number; size: number } | undefined>;

/**
 * Store and /boot space, read when Prometheus scrapes, and what collections did. Registered in
 * the agent's own registry; an unreadable filesystem leaves its gauges unset.
 */
export function gcMetrics(
  registry: Registry,
  paths: { readonly store: string; readonly boot: string },
  space: SpaceReader,
): GcObserver {
  const r = [registry];
  const free = new Gauge({
    name: `${PREFIX}filesystem_free_bytes`,
    help: "Bytes available to the agent on the filesystem of the Nix store or /boot.",
    labelNames: ["mount"] as const,
    registers: r,
    async collect() {
      await readInto(this, (got) => got.free);
    },
  });
  new Gauge({
    name: `${PREFIX}filesystem_size_bytes`,
    help: "Size of the filesystem of the Nix store or /boot.",
    labelNames: ["mount"] as const,
    registers: r,
    async collect() {
      await readInto(this, (got) => got.size);
    },
  });
  // Each gauge reads for itself: a registry collects its metrics concurrently.
  async function readInto(
    g: typeof free,
    value: (got: { free: number; size: number }) => number,
  ): Promise<void> {
    for (const [mount, path] of [
      ["store", paths.store],
      ["boot", paths.boot],
    ] as const) {
      const got = await space(path);
      if (got === undefined) g.remove({ mount });
      else g.set({ mount }, value(got));
    }
  }
  const runs = new Counter({
    name: `${PREFIX}gc_runs_total`,
    help: "Garbage collections that ran to their end (or were stopped by a deployment).",
    registers: r,
  });
  const failures = new Counter({
    name: `${PREFIX}gc_failures_total`,
    help: "Garbage collections that failed or timed out.",
    registers: r,
  });
  const freed = new Counter({
    name: `${PREFIX}gc_freed_bytes_total`,
    help: "Bytes Nix's garbage collection freed in the store.",
    registers: r,
  });
  const generations = new Counter({
    name: `${PREFIX}gc_generations_deleted_total`,
    help: "System profile generations deleted by the retention policy.",
    registers: r,
  });
  const duration = new Histogram({
    name: `${PREFIX}gc_duration_seconds`,
    help: "Wall time of a garbage collection (generations and store).",
    buckets: GC_BUCKETS,
    registers: r,
  });
  failures.inc(0);
  runs.inc(0);
  return {
    done(report: GcReport) {
      runs.inc();
      freed.inc(report.freedBytes);
      generations.inc(report.removed.length);
      duration.observe(report.durationMs / 1000);
    },
    failed() {
      failures.inc();
    },
  };
}
