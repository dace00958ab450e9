import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./config.js";

// Small files are a house rule (style.md): a file over 300 lines fails here; tests count too
// (split by concern, set-up in a rig beside them).
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

/** Every .ts/.mts file below dir (tests included, declarations not). */
function sources(dir: string, into: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (["node_modules", "dist", "gen", "results"].includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, into);
    else if (/\.m?ts$/.test(entry.name) && !/\.d\.m?ts$/.test(entry.name)) into.push(path);
  }
  return into;
}

const isTest = (f: string) => /\.test\.m?ts$/.test(f);
const overLimit = (files: string[]) =>
  files
    .map((f) => ({
      file: relative(REPO_ROOT, f),
      lines: readFileSync(f, "utf8").trimEnd().split("\n").length,
    }))
    .filter((f) => f.lines > LIMIT)
    .map((f) => `${f.file}: ${f.lines}`);

describe("file sizes", () => {
  const files = ROOTS.flatMap((r) => sources(join(REPO_ROOT, r)));

  it(`no production file is over ${LIMIT} lines`, () => {
    const production = files.filter((f) => !isTest(f));
    expect(production.length).toBeGreaterThan(100);
    expect(overLimit(production)).toEqual([]);
  });

  it(`no test file is over ${LIMIT} lines`, () => {
    const tests = files.filter(isTest);
    expect(tests.length).toBeGreaterThan(100);
    expect(overLimit(tests)).toEqual([]);
  });
});
