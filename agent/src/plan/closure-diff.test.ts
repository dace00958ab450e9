import { describe, expect, it } from "vitest";
import { diffClosures, parseName } from "./closure-diff.js";

const H = "0123456789abcdfghijklmnpqrsvwxyz";
const p = (name: string, narSize: number) => ({ path: `/nix/store/${H}-${name}`, narSize });

describe("parseName", () => {
  it("splits name and version as Nix does", () => {
    expect(parseName(`/nix/store/${H}-hello-2.12.1`)).toEqual({ name: "hello", version: "2.12.1" });
    expect(parseName(`/nix/store/${H}-ros-noetic-roscpp-1.16.0-r1`)).toEqual({
      name: "ros-noetic-roscpp",
      version: "1.16.0-r1",
    });
    expect(parseName(`/nix/store/${H}-etc`)).toEqual({ name: "etc", version: "" });
    expect(parseName(`/nix/store/${H}-nixos-system-robot-24.05`)).toEqual({
      name: "nixos-system-robot",
      version: "24.05",
    });
  });
});

describe("diffClosures", () => {
  it("reports added, removed and changed packages with versions and size deltas", () => {
    const before = [
      p("glibc-2.39", 100),
      p("ros-nodes-1.0", 10),
      p("old-tool-3", 5),
      p("etc", 7),
      p("same-1", 1),
    ];
    const after = [
      p("glibc-2.39", 100),
      p("ros-nodes-1.1", 12),
      p("new-tool-1", 4),
      p("etc", 9),
      p("same-1", 1),
    ];
    const d = diffClosures(before, after);
    expect(d.added).toEqual([{ name: "new-tool", oldVersions: [], newVersions: ["1"], sizeDelta: 4 }]);
    expect(d.removed).toEqual([{ name: "old-tool", oldVersions: ["3"], newVersions: [], sizeDelta: -5 }]);
    expect(d.changed).toEqual([
      { name: "etc", oldVersions: [""], newVersions: [""], sizeDelta: 2 },
      { name: "ros-nodes", oldVersions: ["1.0"], newVersions: ["1.1"], sizeDelta: 2 },
    ]);
    expect([d.oldSize, d.newSize, d.oldPaths, d.newPaths]).toEqual([123, 126, 5, 5]);
  });
});
