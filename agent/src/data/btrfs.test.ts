import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessRunner } from "../system/command.js";
import { FakeUnits } from "../testing/fakes.js";
import { isBtrfsSubvolume } from "./fs-ops.js";
import { FsDataStore } from "./store.js";

// A real btrfs: a loop-mounted image (needs root and btrfs-progs, as the robots that use it).
let tmp = "";
let mnt = "";
const signal = new AbortController().signal;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-btrfs-"));
  mnt = join(tmp, "mnt");
  const img = join(tmp, "fs.img");
  execFileSync("truncate", ["-s", "256M", img]);
  execFileSync("mkfs.btrfs", ["-q", img]);
  execFileSync("mkdir", ["-p", mnt]);
  execFileSync("mount", ["-o", "loop", img, mnt]);
});

afterAll(async () => {
  if (mnt) execFileSync("umount", [mnt]);
  await rm(tmp, { recursive: true, force: true });
});

const store = (stateDir: string) =>
  new FsDataStore(new ProcessRunner(), new FakeUnits(), {
    stateDir,
    holdDir: join(stateDir, "holds"),
    entries: [],
    keep: 0,
    migrateTimeoutMs: 5_000,
    reserveBytes: 0,
  });

async function fill(dir: string): Promise<void> {
  await writeFile(join(dir, "schema"), "1\n");
}

describe("capture method on a real btrfs", () => {
  it("a subvolume is captured as a read-only btrfs snapshot and restored by a writable one", async () => {
    const path = join(mnt, "maps");
    execFileSync("btrfs", ["subvolume", "create", path]);
    await fill(path);
    const s = store(join(mnt, "state"));
    const [plan] = await s.plan("d-1", [{ path, units: [] }]);
    expect(plan?.method).toBe("btrfs");
    if (plan === undefined) throw new Error("no plan");
    const snap = await s.capture(plan, signal);
    expect(await isBtrfsSubvolume(snap.location)).toBe(true);
    expect(execFileSync("btrfs", ["property", "get", snap.location, "ro"], { encoding: "utf8" })).toMatch(
      /ro=true/,
    );
    await writeFile(join(path, "schema"), "2\n");
    await s.stage(snap, "d-1", signal);
    await s.swap(snap, "d-1");
    expect(await readFile(join(path, "schema"), "utf8")).toBe("1\n");
    // The restored directory is again a writable subvolume.
    expect(await isBtrfsSubvolume(path)).toBe(true);
    await writeFile(join(path, "after"), "x");
    // Retention 0: settling deletes the snapshot subvolume (rm alone cannot).
    await s.settle("d-1", { outcome: "succeeded" });
    expect(execFileSync("btrfs", ["subvolume", "list", mnt], { encoding: "utf8" })).not.toMatch(/d-1/);
  });

  it("a plain directory on btrfs is captured by reflink", async () => {
    const path = join(mnt, "calib");
    execFileSync("mkdir", ["-p", path]);
    await fill(path);
    const [plan] = await store(join(mnt, "state")).plan("d-2", [{ path, units: [] }]);
    expect(plan?.method).toBe("reflink");
  });

  it("a subvolume whose snapshots would land on another filesystem falls back to a copy", async () => {
    const path = join(mnt, "db");
    execFileSync("btrfs", ["subvolume", "create", path]);
    await fill(path);
    const [plan] = await store(join(tmp, "ext-state")).plan("d-3", [{ path, units: [] }]);
    expect(plan?.method).toBe("copy");
  });
});
