import { describe, expect, it } from "vitest";
import { goalLines, judge, median, stat, statTable, summarize, table } from "./report.js";

describe("bench report", () => {
  it("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("takes ratios inside each run, then their median (not the ratio of medians)", () => {
    const runs = [
      { pipe: 1, "push-auto": 2, "nix-copy": 4 },
      { pipe: 2, "push-auto": 2, "nix-copy": 2 },
      { pipe: 4, "push-auto": 6, "nix-copy": 12 },
    ];
    const rows = summarize("veth", runs, 100);
    const auto = rows.find((r) => r.variant === "push-auto");
    expect(auto).toMatchObject({ median: 2, min: 2, max: 6, mibPerSecond: 50 });
    expect(auto?.ratioToPipe).toBe(1.5); // 2, 1, 1.5
    expect(auto?.nixCopySpeedup).toBe(2); // 2, 1, 2
  });

  it("judges each push against the link's goals; the default (auto) decides", () => {
    const runs = [{ "ssh-zstd-pipe": 10, "nix-copy": 30, "push-auto": 10.4, "push-zstd": 11 }];
    const goals = judge("20mbit", summarize("20mbit", runs, 30));
    expect(goals.map((g) => [g.goal, g.met])).toEqual([
      ["push ≤ 1.05× ssh-zstd-pipe", true],
      ["push ≥ 2.3× faster than nix-copy", true],
    ]);
    expect(goals[0]?.pushes.find((p) => p.variant === "push-zstd")).toMatchObject({ met: false });
    expect(goalLines(goals)).toContain("push-zstd 1.10 ✗");
  });

  it("a goal whose baseline was not measured is said to be so, not met", () => {
    const goals = judge("rtt50", summarize("rtt50", [{ "push-auto": 1 }], 1));
    expect(goals).toEqual([{ goal: "push ≥ 3× faster than nix-copy", baseline: "nix-copy", pushes: [] }]);
    expect(goalLines(goals)).toBe(
      "- goal push ≥ 3× faster than nix-copy: not measured (needs nix-copy and a push)",
    );
    // Measured, but not for the default: each push's value, no verdict.
    const zstdOnly = judge("rtt50", summarize("rtt50", [{ "push-zstd": 1, "nix-copy": 4 }], 1));
    expect(goalLines(zstdOnly)).toBe(
      "- goal push ≥ 3× faster than nix-copy: push-auto not measured (push-zstd 4.00 ✓)",
    );
    expect(table("rtt50", summarize("rtt50", [{ "push-auto": 1 }], 1))).toContain(
      "| push-auto | 1.00 | 1.00 | 1.00 | 1.0 | – | – | – |",
    );
  });

  it("gives the pushes' median MiB sent, a dash where nothing was counted", () => {
    const rows = summarize(
      "veth",
      [
        { pipe: 1, "push-zstd": 2 },
        { pipe: 1, "push-zstd": 2 },
        { pipe: 1, "push-zstd": 2 },
      ],
      8,
      {
        "push-zstd": [3, 1, 2],
      },
    );
    expect(rows.find((r) => r.variant === "push-zstd")?.wireMiB).toBe(2);
    expect(rows.find((r) => r.variant === "pipe")?.wireMiB).toBeUndefined();
    expect(table("veth", rows)).toContain("| push-zstd | 2.00 | 2.00 | 2.00 | 4.0 | 2.00 | – | 2.0 |");
  });

  it("the suites' tables: median, min, max and the run count", () => {
    expect(stat([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    expect(statTable({ switch: stat([3, 1, 2]) })).toBe(
      "| measure | median s | min s | max s | runs |\n|---|---|---|---|---|\n| switch | 2.00 | 1.00 | 3.00 | 3 |",
    );
  });
});
