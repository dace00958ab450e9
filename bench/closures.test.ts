// The bench's closure builders, with the host's real Nix: a redeploy variant differs in exactly one
// payload path and the toplevel; the binaries packing fills the groups it is given.
import { describe, expect, it } from "vitest";
import { type HostFile, packFiles } from "./binaries.js";
import { closureKinds, deleteClosure, nixBuild } from "./closure.js";
import { buildPayloadSystem, closureDiff, payloadSystemExpr } from "./system-closure.js";

describe("payload system", () => {
  it("two variants of one seed differ in exactly payload path 0 and the toplevel", async () => {
    const seed = `t${process.pid}-${Date.now().toString(36)}`;
    const a = await buildPayloadSystem({ seed, variant: "a", paths: 6, bytesPerPath: 1000 });
    const b = await buildPayloadSystem({ seed, variant: "b", paths: 6, bytesPerPath: 1000 });
    // 6 payload paths + toplevel + units + ros-nodes.
    expect(a.closure).toHaveLength(9);
    expect(b.closure).toHaveLength(9);
    const changed = closureDiff(a.closure, b.closure);
    expect(changed).toHaveLength(2);
    expect(changed).toContain(b.toplevel);
    expect(changed.find((p) => p !== b.toplevel)).toMatch(new RegExp(`-bd-${seed}-0$`));
  }, 60_000);

  it("refuses a seed that would escape the Nix string", () => {
    expect(() => payloadSystemExpr({ seed: 'x"; y', variant: "a", paths: 1, bytesPerPath: 1 })).toThrow(
      /seed and variant/,
    );
    expect(() => payloadSystemExpr({ seed: "x", variant: "a", paths: 0, bytesPerPath: 1 })).toThrow(/paths/);
  });
});

describe("nixBuild", () => {
  it("builds an expression over Linux's 128 KiB per-argument limit (a 500 MB binaries closure's)", async () => {
    const seed = `t${process.pid}-${Date.now().toString(36)}`;
    // As long as a binaries closure naming ~2,500 files; a comment costs nix nothing to evaluate.
    const expr = `# ${"x".repeat(200 * 1024)}
      derivation {
        name = "bench-long-${seed}";
        system = builtins.currentSystem;
        builder = "/bin/sh";
        args = [ "-c" "echo ${seed} > $out" ];
      }`;
    const built = await nixBuild(expr);
    try {
      expect(built.paths).toEqual([built.root]);
      expect(built.root).toMatch(new RegExp(`-bench-long-${seed}$`));
    } finally {
      await deleteClosure({ ...built, bytes: 0 });
    }
  }, 60_000);
});

describe("packFiles", () => {
  const files = (sizes: number[]): HostFile[] => sizes.map((size, i) => ({ path: `/f${i}`, size }));

  it("fills at most N groups of about total/N, none empty, skipping files over 4× the target", () => {
    const groups = packFiles(files([40, 60, 30, 30, 500, 100, 10, 90, 50, 50]), 4, 400);
    expect(groups.map((g) => g.map((f) => f.path))).toEqual([
      ["/f0", "/f1"],
      ["/f2", "/f3"],
      ["/f5"],
      ["/f6", "/f7"],
    ]);
  });

  it("stops at the byte budget and keeps a short last group", () => {
    const groups = packFiles(files([3, 3, 3, 3, 3]), 4, 8);
    expect(groups.map((g) => g.map((f) => f.path))).toEqual([["/f0"], ["/f1"], ["/f2"]]);
  });
});

describe("closureKinds", () => {
  it("defaults to both and refuses anything else", () => {
    expect(closureKinds("both")).toEqual(["random", "binaries"]);
    expect(closureKinds("binaries")).toEqual(["binaries"]);
    expect(() => closureKinds("zip")).toThrow(/BENCH_CLOSURE/);
  });
});
