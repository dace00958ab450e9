import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStopLog } from "./stop-log.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rr-stops-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("FileStopLog (a real file)", () => {
  it("keeps the last stop of each unit across instances (an agent restart)", async () => {
    const file = join(dir, "a", "data-stops.json");
    await new FileStopLog(file).record(["db.service", "map.service"], 1200.4);
    await new FileStopLog(file).record(["db.service"], 800);
    expect(await new FileStopLog(file).last()).toEqual(
      new Map([
        ["db.service", 800],
        ["map.service", 1200],
      ]),
    );
  });

  it("a missing or damaged file reads as nothing known, and the next record replaces it", async () => {
    const file = join(dir, "b.json");
    expect((await new FileStopLog(file).last()).size).toBe(0);
    await writeFile(file, '{"version":1,"units":{"db.service":{"ms":"x"');
    const log = new FileStopLog(file);
    expect((await log.last()).size).toBe(0);
    await log.record(["db.service"], 5);
    expect(JSON.parse(await readFile(file, "utf8")).units["db.service"].ms).toBe(5);
  });

  it("keeps the 256 most recently stopped units", async () => {
    const file = join(dir, "c.json");
    let t = 0;
    const log = new FileStopLog(file, () => ++t);
    for (let i = 0; i < 300; i++) await log.record([`u${i}.service`], i);
    const last = await log.last();
    expect(last.size).toBe(256);
    expect(last.has("u299.service")).toBe(true);
    expect(last.has("u43.service")).toBe(false);
  });
});
