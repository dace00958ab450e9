import { status } from "@grpc/grpc-js";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { CLOSURE } from "../testing/robot-fixtures.js";

// gc: real grpc-js client and server with mutual TLS (testing/cli-rig.ts); the agent's answers are scripted.

const rig = useCliRig({ name: "gc", closure: CLOSURE });
beforeEach(() => rig.reset());

const SPACE = {
  storeFreeBytes: 2 * 1024 ** 3,
  storeSizeBytes: 8 * 1024 ** 3,
  bootKnown: true,
  bootFreeBytes: 200 * 1024 ** 2,
  bootSizeBytes: 512 * 1024 ** 2,
  storeReserveBytes: 512 * 1024 ** 2,
};

const REPORT = {
  dryRun: false,
  kept: [
    { generation: 7, reasons: ["previous", "recent"] },
    { generation: 8, reasons: ["current", "running", "recent"] },
  ],
  removed: [
    { generation: 5, reasons: ["beyond-policy"] },
    { generation: 9, reasons: ["failed"] },
  ],
  deletedPaths: 120,
  freedBytes: 1536 * 1024 ** 2,
  durationMs: 4200,
  space: SPACE,
};

const gc = (...argv: string[]) => rig.run(["gc", "robot1", ...argv, "--inventory", rig.inventory]);

describe("gc", () => {
  it("asks the agent to collect and says what went and what is free", async () => {
    rig.agent.handlers.collectGarbage = () => REPORT;
    const r = await gc();
    expect(r.code).toBe(0);
    expect(rig.agent.calls.map((c) => [c.method, c.request])).toEqual([
      ["collectGarbage", { dryRun: false }],
    ]);
    expect(r.stdout).toBe(
      [
        "robot1: deleted generations: 5 (beyond-policy), 9 (failed)",
        "robot1: kept: 7 (previous, recent), 8 (current, running, recent)",
        "robot1: 120 store paths deleted, 1.5 GiB freed",
        "robot1: 2.0 GiB free of 8.0 GiB on the store, 200 MiB free of 512 MiB on /boot",
        "",
      ].join("\n"),
    );
  });

  it("--dry-run asks for a dry run; --json gives the report", async () => {
    rig.agent.handlers.collectGarbage = (req) => ({
      ...REPORT,
      dryRun: req.dryRun,
      deletedPaths: 0,
      freedBytes: 0,
    });
    const r = await gc("--dry-run", "--json");
    expect(r.code).toBe(0);
    expect(rig.agent.calls.map((c) => c.request)).toEqual([{ dryRun: true }]);
    expect(r.json()).toMatchObject({
      target: "robot1",
      dryRun: true,
      removed: [
        { generation: 5, reasons: ["beyond-policy"] },
        { generation: 9, reasons: ["failed"] },
      ],
      freedBytes: 0,
    });
  });

  it("exit 1 with the agent's one line while a deployment runs", async () => {
    rig.agent.handlers.collectGarbage = () => ({
      error: {
        code: status.FAILED_PRECONDITION,
        details: "deployment d-1 (activate of /nix/store/x) is still running, state checking_health",
        agentCode: "FAILED_PRECONDITION",
      },
    });
    const r = await gc();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error: robot1: FAILED_PRECONDITION: deployment d-1 (activate of /nix/store/x) is still running, state checking_health\n",
    );
  });

  it("refuses a stray argument before connecting", async () => {
    const r = await gc("extra");
    expect(r.code).not.toBe(0);
    expect(rig.agent.calls).toEqual([]);
  });
});
