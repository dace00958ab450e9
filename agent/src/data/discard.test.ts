// A capture that fails half-way on a real tmpfs out of inodes (needs root, as the robots' agent):
// discarding it deletes the partial copy even though no manifest can be written any more.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessRunner } from "../system/command.js";
import { FakeUnits } from "../testing/fakes.js";
import { FsDataStore } from "./store.js";

let tmp = "";
let snapshots = "";
const signal = new AbortController().signal;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-discard-"));
  snapshots = join(tmp, "state", "snapshots");
  await mkdir(snapshots, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "nr_inodes=32,size=16m", "tmpfs", snapshots]);
});
afterAll(async () => {
  execFileSync("umount", [snapshots]);
  await rm(tmp, { recursive: true, force: true });
});

describe("discarding a failed capture", () => {
  it("removes the partial copy when the snapshot directory has no inode left for a manifest", async () => {
    const db = join(tmp, "db");
    await mkdir(db);
    for (let i = 0; i < 100; i++) await writeFile(join(db, `${i}`), `${i}\n`);
    const store = new FsDataStore(new ProcessRunner(), new FakeUnits(), {
      stateDir: join(tmp, "state"),
      holdDir: join(tmp, "holds"),
      entries: [],
      keep: 2,
      migrateTimeoutMs: 5_000,
      reserveBytes: 0,
    });
    const [snap] = await store.plan("d-1", [{ path: db, units: [] }]);
    if (snap === undefined) throw new Error("no plan");
    await expect(store.capture(snap, signal)).rejects.toThrow();
    expect(await readdir(snapshots)).toEqual(["d-1"]);
    expect(await store.settle("d-1", { outcome: "discarded" })).toEqual(["d-1"]);
    expect(await readdir(snapshots)).toEqual([]);
  });
});
