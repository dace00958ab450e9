import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mergeResults } from "./results.js";

describe("latest.json", () => {
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "bench-results-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("replaces the suite's key and keeps the other suites'", () => {
    const file = pathToFileURL(join(dir, "sub", "latest.json"));
    mergeResults("transfers", { a: 1 }, file);
    mergeResults("rollback", { b: 2 }, file);
    mergeResults("transfers", { a: 3 }, file);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ transfers: { a: 3 }, rollback: { b: 2 } });
  });

  it("refuses to overwrite a file that is not JSON", () => {
    const file = pathToFileURL(join(dir, "latest.json"));
    writeFileSync(file, "not json");
    expect(() => mergeResults("transfers", {}, file)).toThrow(SyntaxError);
    expect(readFileSync(file, "utf8")).toBe("not json");
  });
});
