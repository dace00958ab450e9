import { AgentError, isAgentError } from "../errors.js";

/** Free space that must remain on the store's filesystem after a transfer. */
export type Reserve = { readonly bytes: number } | { readonly percent: number };

export interface SpaceCheckDeps {
  /** The store's directory: its filesystem is the one measured, and the message names it. */
  readonly storeDir: string;
  readonly reserve: Reserve;
  readonly space: (path: string) => Promise<{ free: number; size: number } | undefined>;
  /** The policy's collection; refused (FAILED_PRECONDITION) while a deployment runs. Resolves to the bytes freed. */
  readonly collect: (() => Promise<number>) | undefined;
}

/**
 * Refuses (RESOURCE_EXHAUSTED) a transfer of `neededBytes` that would leave less than the reserve
 * free, after first collecting what the policy allows. Called before the transfer's first byte.
 */
export async function ensureSpace(deps: SpaceCheckDeps, neededBytes: number, what: string): Promise<void> {
  if (neededBytes <= 0) return;
  let fs = await deps.space(deps.storeDir);
  if (fs === undefined) return; // unmeasurable: nix's own ENOSPC is all that is left
  const reserve = reserveBytes(deps.reserve, fs.size);
  if (fs.free - neededBytes >= reserve) return;
  let freed = 0;
  if (deps.collect !== undefined) {
    try {
      freed = await deps.collect();
    } catch (e) {
      // A deployment runs (its paths are rooted anyway): refuse on the numbers as they are.
      if (!(isAgentError(e) && e.code === "FAILED_PRECONDITION")) throw e;
    }
    fs = (await deps.space(deps.storeDir)) ?? fs;
  }
  if (fs.free - neededBytes >= reserve) return;
  throw new AgentError(
    "NO_SPACE",
    `${what} needs ${formatBytes(neededBytes)}, ${formatBytes(fs.free)} free on ${deps.storeDir}` +
      ` after collecting ${formatBytes(freed)}, reserve ${formatBytes(reserve)}`,
  );
}

export function reserveBytes(r: Reserve, sizeBytes: number): number {
  return "bytes" in r ? r.bytes : Math.ceil((sizeBytes * r.percent) / 100);
}

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"] as const;

/** 1932735283 → "1.8 GiB"; whole numbers keep no decimal ("512 MiB"). */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} bytes`;
  const s =
    v >= 100 || Number.isInteger(Math.round(v * 10) / 10) ? String(Math.round(v * 10) / 10) : v.toFixed(1);
  return `${s} ${UNITS[u]}`;
}
