// Concurrent writes of the record files: unique temp files, whole records, the last save wins.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../files/atomic-file.js";
import { TEST_HEALTH } from "../testing/deployer-rig.js";
import type { DeploymentRecord } from "./record.js";
import { FileRecordStore } from "./record-file.js";

function record(n: number): DeploymentRecord {
  return {
    version: 1,
    id: `d-race-${n}`,
    kind: "activate",
    action: "switch",
    storePath: "/nix/store/00000000000000000000000000000000-system",
    previous: { generation: 1, storePath: undefined, runningSystem: undefined },
    state: "activating",
    generation: 2,
    switchUnit: undefined,
    rollbackUnit: undefined,
    exitCode: undefined,
    settings: {
      confirmTimeoutSeconds: 30,
      magicRollback: true,
      autoRollback: true,
      selfConfirm: false,
      health: TEST_HEALTH,
    },
    confirmDeadline: undefined,
    rollbackReason: undefined,
    rollbackCause: undefined,
    bootId: undefined,
    booted: false,
    health: undefined,
    // Large enough that writes take a while and overlap.
    message: `save ${n} ${"x".repeat(64 * 1024)}`,
    startedAt: n,
    updatedAt: n,
    history: [],
  };
}

describe("FileRecordStore under concurrent saves", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "rr-record-race-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("completes every one of many simultaneous saves; the last one called is what stays", async () => {
    const store = new FileRecordStore(dir);
    for (let round = 0; round < 5; round++) {
      const saves = Array.from({ length: 20 }, (_, i) => store.save(record(round * 100 + i)));
      const results = await Promise.allSettled(saves);
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      expect((await store.load())?.id).toBe(`d-race-${round * 100 + 19}`);
      expect(await readdir(dir)).toEqual(["deployment.json"]);
    }
  });

  it("keeps record and lineage writes apart when they overlap", async () => {
    const store = new FileRecordStore(dir);
    const writes = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0 ? store.save(record(i)) : store.saveLineage({ [i]: i - 1 }),
    );
    expect((await Promise.allSettled(writes)).filter((r) => r.status === "rejected")).toEqual([]);
    expect((await store.load())?.id).toBe("d-race-18");
    expect(await store.loadLineage()).toEqual({ 19: 18 });
    expect((await readdir(dir)).sort()).toEqual(["deployment.json", "lineage.json"]);
  });

  it("gives independent writers of one file their own temp files: each write lands whole", async () => {
    const file = join(dir, "deployment.json");
    const texts = Array.from({ length: 20 }, (_, i) => `${JSON.stringify(record(i))}\n`);
    const results = await Promise.allSettled(texts.map((t) => writeFileAtomic(dir, file, t)));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(texts).toContain(await readFile(file, "utf8"));
    expect(await readdir(dir)).toEqual(["deployment.json"]);
  });
});
