import { constants } from "node:fs";
import { access, lstat, opendir, rename, rm, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { type CommandRunner, runChecked } from "../system/command.js";
import type { CaptureMethod } from "./types.js";

const BTRFS_MAGIC = 0x9123683e;
/** Every btrfs subvolume's root directory has this inode number. */
const BTRFS_SUBVOL_INO = 256;
const COPY_TIMEOUT_MS = 60 * 60_000;

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

export async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export async function isBtrfsSubvolume(p: string): Promise<boolean> {
  const [fs, st] = await Promise.all([statfs(p), stat(p)]);
  return fs.type === BTRFS_MAGIC && st.ino === BTRFS_SUBVOL_INO;
}

/** Bytes an unprivileged-reserve-respecting writer may still use on p's filesystem. */
export async function freeBytes(p: string): Promise<number> {
  const fs = await statfs(p);
  return fs.bavail * fs.bsize;
}

/** The first regular file under dir (depth-first, bounded), to try a reflink on. */
async function firstFile(dir: string, depth = 4): Promise<string | undefined> {
  const d = await opendir(dir);
  const subdirs: string[] = [];
  for await (const e of d) {
    if (e.isFile()) return join(dir, e.name);
    if (e.isDirectory() && depth > 0) subdirs.push(join(dir, e.name));
  }
  for (const s of subdirs) {
    const f = await firstFile(s, depth - 1);
    if (f !== undefined) return f;
  }
  return undefined;
}

/** Filesystem commands behind the data store; real coreutils and btrfs-progs. */
export class FsOps {
  constructor(private readonly runner: CommandRunner) {}

  /** Bytes the directory occupies on disk (what a plain copy needs). */
  async diskUsage(p: string, signal?: AbortSignal): Promise<number> {
    const out = await runChecked(this.runner, ["du", "-s", "-B1", "--", p], { signal, timeoutMs: 600_000 });
    return Number.parseInt(out.split(/\s/)[0] ?? "0", 10) || 0;
  }

  /**
   * The cheapest honest capture of `path` into `snapshotDir`: a btrfs snapshot
   * when `path` is a subvolume and the snapshot lands on the same filesystem,
   * else a reflink when `cp --reflink=always` works between the two, else a copy.
   */
  async chooseMethod(path: string, snapshotDir: string): Promise<CaptureMethod> {
    if (!(await exists(path))) return "copy";
    if ((await isBtrfsSubvolume(path)) && (await statfs(snapshotDir)).type === BTRFS_MAGIC) {
      const probe = join(snapshotDir, ".btrfs-probe");
      const r = await this.runner.run(["btrfs", "subvolume", "snapshot", "-r", path, probe], {
        timeoutMs: 60_000,
      });
      if (r.code === 0) {
        await this.remove(probe);
        return "btrfs";
      }
    }
    const file = await firstFile(path);
    if (file === undefined) return "copy";
    const probe = join(snapshotDir, ".reflink-probe");
    const r = await this.runner.run(["cp", "--reflink=always", "--", file, probe], { timeoutMs: 60_000 });
    await rm(probe, { force: true });
    return r.code === 0 ? "reflink" : "copy";
  }

  /** Copies (or snapshots) the directory `from` to `to`, which must not exist. */
  async clone(method: CaptureMethod, from: string, to: string, readOnly: boolean, signal?: AbortSignal) {
    if (method === "btrfs") {
      const ro = readOnly ? ["-r"] : [];
      await runChecked(this.runner, ["btrfs", "subvolume", "snapshot", ...ro, from, to], {
        signal,
        timeoutMs: 120_000,
      });
    } else {
      const reflink = method === "reflink" ? "--reflink=always" : "--reflink=auto";
      await runChecked(this.runner, ["cp", "-a", reflink, "--no-target-directory", "--", from, to], {
        signal,
        timeoutMs: COPY_TIMEOUT_MS,
      });
    }
    // The record will say "captured": the bytes must be on disk first.
    await runChecked(this.runner, ["sync", "-f", to], { signal, timeoutMs: 600_000 });
  }

  /** Removes a tree; a btrfs subvolume through btrfs-progs (rm cannot remove one). */
  async remove(p: string): Promise<void> {
    if (!(await exists(p))) return;
    if (await isBtrfsSubvolume(p).catch(() => false)) {
      await runChecked(this.runner, ["btrfs", "subvolume", "delete", "--", p], { timeoutMs: 120_000 });
      return;
    }
    await rm(p, { recursive: true, force: true });
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async syncDir(p: string): Promise<void> {
    await runChecked(this.runner, ["sync", "-f", p], { timeoutMs: 600_000 });
  }
}
