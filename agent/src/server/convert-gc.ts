import type { CollectGarbageResponse, StoreSpace } from "@ros-rollback/proto";
import type { GcReport } from "../gc/collector.js";
import type { Space } from "../gc/port.js";

export function spaceToPb(s: Space | undefined): StoreSpace | undefined {
  if (s === undefined) return undefined;
  return {
    storeFreeBytes: s.storeFreeBytes,
    storeSizeBytes: s.storeSizeBytes,
    bootKnown: s.boot !== undefined,
    bootFreeBytes: s.boot?.freeBytes ?? 0,
    bootSizeBytes: s.boot?.sizeBytes ?? 0,
    storeReserveBytes: s.storeReserveBytes,
  };
}

export function gcReportToPb(r: GcReport, space: Space | undefined): CollectGarbageResponse {
  return {
    dryRun: r.dryRun,
    kept: r.kept.map((k) => ({ generation: k.number, reasons: [...k.reasons] })),
    removed: r.removed.map((k) => ({ generation: k.number, reasons: [k.reason] })),
    deletedPaths: r.deletedPaths,
    freedBytes: r.freedBytes,
    durationMs: r.durationMs,
    space: spaceToPb(space),
  };
}
