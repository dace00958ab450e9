import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { AgentError } from "../errors.js";
import { formatBytes } from "./space-check.js";

export interface BootSpaceDeps {
  /** The boot partition's mount point (gc.bootDir). */
  readonly bootDir: string;
  /** Free space that must remain on it after the new kernel and initrd (gc.bootReserveMiB). */
  readonly reserveBytes: number;
  readonly space: (path: string) => Promise<{ free: number; size: number } | undefined>;
  readonly log: Logger;
}

/**
 * Refuses (RESOURCE_EXHAUSTED, NO_SPACE) an activation that installs a bootloader entry when the
 * boot partition could not take the system's kernel and initrd and still keep the reserve: the
 * bootloader would fail half-way through its install, after the profile was switched (nixpkgs
 * copies the new files before it prunes old entries). Called before the deployment's record exists.
 */
export async function ensureBootSpace(deps: BootSpaceDeps, system: string): Promise<void> {
  const [kernel, initrd] = await Promise.all([
    fileSize(join(system, "kernel")),
    fileSize(join(system, "initrd")),
  ]);
  // Not a NixOS system with a kernel of its own (a container, the lab): nothing goes to /boot.
  if (kernel === undefined || initrd === undefined) return;
  const separate = await separateMount(deps.bootDir);
  if (separate !== true) {
    deps.log.info(
      { bootDir: deps.bootDir },
      `boot space not checked: ${deps.bootDir} ${separate === undefined ? "does not exist" : "is not a separate filesystem"}`,
    );
    return;
  }
  const fs = await deps.space(deps.bootDir);
  if (fs === undefined) return;
  const needed = kernel + initrd + deps.reserveBytes;
  if (fs.free >= needed) return;
  throw new AgentError(
    "NO_SPACE",
    `the boot entry needs ${formatBytes(kernel + initrd)} (kernel ${formatBytes(kernel)}, initrd ${formatBytes(initrd)})` +
      ` and a reserve of ${formatBytes(deps.reserveBytes)}, ${formatBytes(fs.free)} free on ${deps.bootDir}`,
  );
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** true: a mount point of its own; false: a directory of its parent's filesystem; undefined: no such directory. */
async function separateMount(dir: string): Promise<boolean | undefined> {
  try {
    const [self, parent] = await Promise.all([stat(dir), stat(join(dir, ".."))]);
    if (!self.isDirectory()) return undefined;
    return self.dev !== parent.dev;
  } catch {
    return undefined;
  }
}
