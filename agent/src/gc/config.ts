import { z } from "zod";
import type { Reserve } from "./space-check.js";

/** `gc` in the agent config: what is kept, and how the collection after a deployment runs. */
export const gcConfigSchema = z
  .object({
    /** `false`: the agent deletes no generation and never runs Nix's GC by itself. */
    enabled: z.boolean().optional(),
    /** The newest generations not known to have failed that are kept (besides current, booted, previous). */
    keepGenerations: z.number().int().min(1).max(1000).optional(),
    /** RuntimeMaxSec= of the collection's unit: systemd stops a GC that runs longer. */
    timeoutSeconds: z.number().int().positive().max(86_400).optional(),
    /** `nix-store --gc --max-freed`: stop once this much is freed (unset: collect everything dead). */
    maxFreedMiB: z.number().int().positive().optional(),
    /** The boot partition whose free space is reported (metrics, status) and checked before a boot entry is installed. */
    bootDir: z.string().startsWith("/").optional(),
    /** Free space the boot partition must keep after a new kernel and initrd. */
    bootReserveMiB: z.number().int().min(0).max(65_536).optional(),
    /** Where the agent roots the paths of a deployment from its query until it ended (under Nix's gcroots). */
    rootsDir: z.string().startsWith("/").optional(),
    /**
     * Free space a push or substitution must leave on the store's filesystem: bytes, or a percent
     * of the filesystem's size ("5%"). Default 512 MiB.
     */
    reserve: z
      .union([z.number().int().min(0), z.string().regex(/^(100|[0-9]{1,2}(\.[0-9]+)?)%$/)])
      .optional(),
    /** Symlink to the system the robot booted. */
    bootedSystemLink: z.string().startsWith("/").optional(),
  })
  .strict();

export interface GcConfig {
  readonly enabled: boolean;
  readonly keepGenerations: number;
  readonly timeoutSeconds: number;
  readonly maxFreedMiB: number | undefined;
  readonly bootedSystemLink: string;
  readonly bootDir: string;
  readonly bootReserveMiB: number;
  readonly rootsDir: string;
  /** Nix's GC lock: held exclusively by a running `nix-store --gc`. */
  readonly lockFile: string;
  readonly reserve: Reserve;
}

export const GC_DEFAULTS = {
  enabled: true,
  keepGenerations: 5,
  timeoutSeconds: 1800,
  bootedSystemLink: "/run/booted-system",
  bootDir: "/boot",
  bootReserveMiB: 4,
  rootsDir: "/nix/var/nix/gcroots/ros-rollback",
  lockFile: "/nix/var/nix/gc.lock",
  reserveBytes: 512 * 1048576,
} as const;

export function compileGcConfig(raw: z.output<typeof gcConfigSchema> | undefined): GcConfig {
  return {
    enabled: raw?.enabled ?? GC_DEFAULTS.enabled,
    keepGenerations: raw?.keepGenerations ?? GC_DEFAULTS.keepGenerations,
    timeoutSeconds: raw?.timeoutSeconds ?? GC_DEFAULTS.timeoutSeconds,
    maxFreedMiB: raw?.maxFreedMiB,
    bootedSystemLink: raw?.bootedSystemLink ?? GC_DEFAULTS.bootedSystemLink,
    bootDir: raw?.bootDir ?? GC_DEFAULTS.bootDir,
    bootReserveMiB: raw?.bootReserveMiB ?? GC_DEFAULTS.bootReserveMiB,
    rootsDir: raw?.rootsDir ?? GC_DEFAULTS.rootsDir,
    lockFile: GC_DEFAULTS.lockFile,
    reserve: compileReserve(raw?.reserve),
  };
}

function compileReserve(raw: number | string | undefined): Reserve {
  if (raw === undefined) return { bytes: GC_DEFAULTS.reserveBytes };
  if (typeof raw === "number") return { bytes: raw };
  return { percent: Number(raw.slice(0, -1)) };
}
