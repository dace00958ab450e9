// A real fleet: one simulated agent per robot, each a grpc-js server with mutual TLS on
// 127.0.0.1:0, and the real CLI (main) in-process. Failing robots: fleet-failures.test.ts.
import type { ActivateRequest } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { deploy, ESC, NAMES, useFleetSim } from "../../testing/fleet-sim.js";

const { fleet, inventory, countingClosure, cli, activated, timeline } = useFleetSim();

describe("deploy to several robots (a rollout)", () => {
  it("goes in waves — canary alone, then batches — with at most --max-parallel transfers at once", async () => {
    fleet();
    const closure = countingClosure();
    const r = await cli(
      deploy(inventory(), "--all", "--canary", "1", "--batch", "2", "--max-parallel", "1"),
      closure,
    );
    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({
      outcome: "succeeded",
      exitCode: 0,
      strategy: { canary: 1, batch: "2", maxParallel: 1 },
    });
    expect(doc.robots.map((x) => [x.target, x.wave, x.outcome, x.report?.outcome])).toEqual([
      ["r1", 1, "succeeded", "succeeded"],
      ["r2", 2, "succeeded", "succeeded"],
      ["r3", 2, "succeeded", "succeeded"],
      ["r4", 3, "succeeded", "succeeded"],
      ["r5", 3, "succeeded", "succeeded"],
    ]);
    // A wave starts only once every robot of the one before is final.
    const at = (e: string) => timeline.indexOf(e);
    for (const [earlier, later] of [
      [["r1"], ["r2", "r3"]],
      [
        ["r2", "r3"],
        ["r4", "r5"],
      ],
    ] as const) {
      for (const a of earlier) for (const b of later) expect(at(`end:${a}`)).toBeLessThan(at(`start:${b}`));
    }
    // The closure is computed once; every robot gets it, one transfer at a time.
    expect(closure.computed).toHaveLength(1);
    expect(closure.maxAtOnce()).toBe(1);
    // Every robot records the rollout's id and strategy in its deployment.
    for (const name of NAMES) {
      const request = activated(name)[0]?.request as ActivateRequest;
      expect(request.options?.label).toMatch(
        new RegExp(`^rollout=${doc.rolloutId};canary=1;batch=2;max-parallel=1;`),
      );
    }
    expect(r.stderr).toMatch(new RegExp(`rollout ${doc.rolloutId}: wave 1/3 \\(canary\\): r1`));
  });

  it("on a TTY draws a live table redrawn in place: a row per robot ending in its outcome", async () => {
    fleet();
    const r = await cli(
      deploy(inventory(), "--all", "--canary", "1", "--batch", "4"),
      countingClosure(),
      true,
    );
    expect(r.code).toBe(0);
    // Cursor up over the table and clear, then the table again: redrawn, not appended.
    expect(r.stderr).toMatch(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
    const last = r.stderr.split("\x1b[J").at(-1) ?? "";
    const rows = last.trimEnd().split("\n").slice(-6);
    expect(rows[0]).toMatch(/^robot\s+phase\s+transfer\s+health\s+outcome/);
    for (const [i, name] of ["r1", "r2", "r3", "r4", "r5"].entries()) {
      expect(rows[i + 1]).toMatch(new RegExp(`^${name}\\s.*succeeded`));
    }
  });

  it("lets transfers of one wave overlap up to --max-parallel", async () => {
    fleet();
    const closure = countingClosure();
    const r = await cli(deploy(inventory(), "--all", "--max-parallel", "2"), closure);
    expect(r.code).toBe(0);
    expect(closure.maxAtOnce()).toBeLessThanOrEqual(2);
    expect(closure.maxAtOnce()).toBeGreaterThanOrEqual(1);
  });
});

describe("read-only commands on several robots", () => {
  it("status --all: one entry per robot, an error entry for one that is down (exit 6)", async () => {
    fleet();
    const r = await cli([
      "status",
      "--all",
      "--inventory",
      inventory(["r4"]),
      "--connect-timeout",
      "2",
      "--json",
    ]);
    expect(r.code).toBe(6);
    const doc = JSON.parse(r.stdout) as { target: string; error?: { message: string } }[];
    expect(doc.map((d) => d.target)).toEqual([...NAMES]);
    expect(doc[3]?.error?.message).toMatch(/r4: UNAVAILABLE/);
    expect(doc[0]).toMatchObject({ target: "r1", currentGeneration: 41 });
  });
});
