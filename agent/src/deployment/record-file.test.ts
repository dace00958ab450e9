import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TEST_HEALTH } from "../testing/deployer-rig.js";
import type { DeploymentRecord } from "./record.js";
import { FileRecordStore } from "./record-file.js";

const record: DeploymentRecord = {
  version: 1,
  id: "d-20261125T101500-abcdef",
  kind: "activate",
  action: "switch",
  storePath: "/nix/store/00000000000000000000000000000000-system",
  previous: {
    generation: 3,
    storePath: "/nix/store/11111111111111111111111111111111-system",
    runningSystem: undefined,
  },
  state: "activating",
  generation: 4,
  switchUnit: "ros-rollback-switch-d-1",
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
  message: "running",
  startedAt: 1,
  updatedAt: 2,
  history: [{ state: "pending", at: 1, message: "switch" }],
};

describe("FileRecordStore", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "rr-record-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads nothing before the first save", async () => {
    expect(await new FileRecordStore(join(dir, "state")).load()).toBeUndefined();
  });

  it("round-trips a record and leaves no temp file", async () => {
    const store = new FileRecordStore(join(dir, "state"));
    await store.save(record);
    expect(await new FileRecordStore(join(dir, "state")).load()).toEqual(
      JSON.parse(JSON.stringify(record)) as DeploymentRecord,
    );
    await store.save({ ...record, state: "succeeded" });
    expect((await store.load())?.state).toBe("succeeded");
    expect(await readdir(join(dir, "state"))).toEqual(["deployment.json"]);
  });

  it("keeps the previous record when a write is torn before the rename", async () => {
    const store = new FileRecordStore(dir);
    await store.save(record);
    // A crash mid-write leaves only a temp file behind; the record itself is intact.
    await writeFile(join(dir, "deployment.json.tmp-999"), '{"version":1,"id":');
    expect((await store.load())?.id).toBe(record.id);
    expect(JSON.parse(await readFile(join(dir, "deployment.json"), "utf8"))).toMatchObject({
      state: "activating",
    });
  });

  it("refuses a record of an unknown version", async () => {
    await writeFile(join(dir, "deployment.json"), JSON.stringify({ ...record, version: 7 }));
    await expect(new FileRecordStore(dir).load()).rejects.toThrow(/record version 7, this agent reads 1/);
  });
});
