import type { GcReport } from "./collector.js";

export interface Space {
  readonly storeFreeBytes: number;
  readonly storeSizeBytes: number;
  /** gc.reserve in bytes for the store's filesystem. */
  readonly storeReserveBytes: number;
  /** undefined: /boot could not be read (no such directory). */
  readonly boot: { readonly freeBytes: number; readonly sizeBytes: number } | undefined;
}

/** What the gRPC service needs of garbage collection. */
export interface GcPort {
  collect(dryRun: boolean): Promise<GcReport>;
  /** undefined: the store's filesystem could not be read. */
  space(): Promise<Space | undefined>;
}
