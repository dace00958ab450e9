// Real symlinks, loops and files in a temporary directory.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { symlinkProblem } from "./entry-paths.js";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "rr-entry-paths-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, "real"));
symlinkSync(join(dir, "real"), join(dir, "link"));
symlinkSync("/nix/store", join(dir, "store"));
symlinkSync(join(dir, "loop-b"), join(dir, "loop-a"));
symlinkSync(join(dir, "loop-a"), join(dir, "loop-b"));
symlinkSync(join(dir, "nowhere"), join(dir, "dangling"));
writeFileSync(join(dir, "file"), "x");

describe("symlinkProblem", () => {
  it.each([
    ["real", undefined],
    ["real/not-yet/deeper", undefined],
    ["not-yet", undefined],
  ])("%s: the directory it names", (rel, want) => {
    return expect(symlinkProblem(join(dir, rel))).resolves.toBe(want);
  });

  it.each([
    ["link", /goes through a symbolic link: it is really ".*\/real"/],
    ["link/sub", /goes through a symbolic link: it is really ".*\/real\/sub"/],
    ["store", /it is really "\/nix\/store"/],
    ["loop-a", /loops through symbolic links/],
    ["loop-a/db", /loops through symbolic links/],
    ["dangling", /goes through ".*\/dangling", a symbolic link to a missing target/],
    ["dangling/db", /a symbolic link to a missing target/],
    ["file/db", /has a file where a directory should be/],
  ])("%s: refused", async (rel, want) => {
    expect(await symlinkProblem(join(dir, rel))).toMatch(want);
  });
});
