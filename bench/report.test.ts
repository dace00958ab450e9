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

  it("holds the nix-copy goal against each import floor measured: below it when floor > nix copy ÷ goal", () => {
    const runs = [
      { "nix-copy": 3, "serve-floor": 2.5, "import-floor": 1.5, "push-auto": 2.8 },
      { "nix-copy": 3, "serve-floor": 2.5, "import-floor": 1.5, "push-auto": 2.8 },
    ];
    const rows = summarize("veth", runs, 100);
    const goals = judge("veth", rows);
    const speed = goals.find((g) => g.baseline === "nix-copy");
    // The floors are not pushes: only push-auto is judged.
    expect(speed?.pushes.map((p) => p.variant)).toEqual(["push-auto"]);
    expect(speed?.floors).toEqual([
      {
        variant: "serve-floor",
        nixCopySpeedup: expect.closeTo(1.2, 9),
        allowedOverFloor: expect.closeTo(0.8, 9),
        goalBelowFloor: true,
      },
      {
        variant: "import-floor",
        nixCopySpeedup: 2,
        allowedOverFloor: expect.closeTo(2 / 1.5, 9),
        goalBelowFloor: false,
      },
    ]);
    // Only the nix-copy goal has floors.
    expect(goals.find((g) => g.baseline === "pipe")?.floors).toBeUndefined();
    const lines = goalLines(goals);
    expect(lines).toContain(
      "serve-floor 1.20× faster than nix-copy: the goal is BELOW this floor (a transfer would have to take 0.80× its time)",
    );
    expect(lines).toContain(
      "import-floor 2.00× faster than nix-copy: the goal is above this floor (a transfer may take up to 1.33× its time)",
    );
    expect(table("veth", rows)).toContain("| serve-floor | 2.50 | 2.50 | 2.50 | 40.0 | – | 1.20 | – |");
  });

  it("a floor exactly at the goal's time is not below it; without nix-copy there is no verdict", () => {
    const at = judge("veth", summarize("veth", [{ "nix-copy": 3, "serve-floor": 2 }], 1));
    expect(at.find((g) => g.baseline === "nix-copy")?.floors).toEqual([
      { variant: "serve-floor", nixCopySpeedup: 1.5, allowedOverFloor: 1, goalBelowFloor: false },
    ]);
    expect(goalLines(at)).toContain(
      "not measured (needs nix-copy and a push)\n  - the robot's own import: serve-floor",
    );
    const none = judge("veth", summarize("veth", [{ "serve-floor": 2, "push-auto": 3 }], 1));
    expect(none.find((g) => g.baseline === "nix-copy")?.floors).toBeUndefined();
    expect(goalLines(none)).not.toContain("own import");
  });

  it("the suites' tables: median, min, max and the run count", () => {
    expect(stat([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    expect(statTable({ switch: stat([3, 1, 2]) })).toBe(
      "| measure | median s | min s | max s | runs |\n|---|---|---|---|---|\n| switch | 2.00 | 1.00 | 3.00 | 3 |",
    );
  });
});
