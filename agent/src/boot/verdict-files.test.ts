import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { RunDirVerdictFiles } from "./verdict-files.js";

let dir: string;
beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), "verdict-")), "boot");
});
afterEach(() => rm(join(dir, ".."), { recursive: true, force: true }));

it("writes judging, then the verdict the gate script reads, and reads it back after a restart", async () => {
  const files = new RunDirVerdictFiles(dir);
  expect(await files.current()).toBeUndefined();
  await files.judging();
  expect((await readdir(dir)).sort()).toEqual(["judging"]);
  await files.verdict("good");
  expect(await readFile(join(dir, "verdict"), "utf8")).toBe("good");
  expect(await new RunDirVerdictFiles(dir).current()).toBe("good");
  expect((await readdir(dir)).sort()).toEqual(["judging", "verdict"]);
});
