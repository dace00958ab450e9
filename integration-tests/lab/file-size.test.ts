import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./config.js";

// Small files are a house rule (style.md): a production file over 300 lines fails here.
const ROOTS = [
  "agent/src",
  "controller/src",
  "relay/src",
  "proto/src",
  "nix-core/src",
  "integration-tests",
  "bench",
  "e2e/src",
];
const LIMIT = 300;

function sources(dir: string, into: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (["node_modules", "dist", "gen", "results"].includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, into);
    else if (/\.m?ts$/.test(entry.name) && !/\.(test|d)\.m?ts$/.test(entry.name)) into.push(path);
  }
  return into;
}

describe("file sizes", () => {
  it(`no production file is over ${LIMIT} lines`, () => {
    const files = ROOTS.flatMap((r) => sources(join(REPO_ROOT, r)));
    expect(files.length).toBeGreaterThan(100);
    const over = files
      .map((f) => ({
        file: relative(REPO_ROOT, f),
        lines: readFileSync(f, "utf8").trimEnd().split("\n").length,
      }))
      .filter((f) => f.lines > LIMIT)
      .map((f) => `${f.file}: ${f.lines}`);
    expect(over).toEqual([]);
  });
});
