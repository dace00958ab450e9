import { describe, expect, it } from "vitest";
import { parseArgs as parse, UsageError } from "./args.js";

const SUITES = ["transfers", "redeploy", "rollback", "relay", "vm"];
const parseArgs = (argv: readonly string[], env: NodeJS.ProcessEnv) => parse(argv, env, SUITES);

describe("bench arguments", () => {
  it("defaults: every suite, link and variant, 3 runs, the documented sizes", () => {
    const o = parseArgs([], {});
    expect(o.suites).toEqual(SUITES);
    expect(o.links).toEqual(["veth", "20mbit", "rtt50"]);
    expect(o.variants).toEqual([
      "pipe",
      "import-floor",
      "serve-floor",
      "ssh-pipe",
      "ssh-zstd-pipe",
      "nix-copy",
      "push-none",
      "push-zstd",
      "push-auto",
      "push-grpc-none",
    ]);
    expect(o).toMatchObject({ robot: "pb-1", runs: 3 });
    expect(o.veth).toEqual({ paths: 200, mib: 200, kinds: ["random", "binaries"] });
    expect(o.slow).toEqual({ paths: 10, mib: 30, rate: "20mbit", kinds: ["binaries"] });
    expect(o.deploy).toEqual({ paths: 200, mib: 50 });
    expect(o.rtt).toEqual({ small: 200, smallKib: 100, big: 3, bigMib: 5, delayMs: 25 });
    expect(o.vmRuns).toBe(2);
  });

  it("--suites, --only and --variants pick a subset, in the canonical order, once each", () => {
    const o = parseArgs(
      [
        "--variants",
        "push-auto,nix-copy,push-auto",
        "--only",
        "rtt50,veth",
        "--suites",
        "vm,rollback,transfers",
      ],
      {},
    );
    expect(o.suites).toEqual(["transfers", "rollback", "vm"]);
    expect(o.links).toEqual(["veth", "rtt50"]);
    expect(o.variants).toEqual(["nix-copy", "push-auto"]);
  });

  it("scales from the environment", () => {
    const o = parseArgs([], {
      BENCH_MB: "50",
      BENCH_RUNS: "1",
      BENCH_RTT_BIG: "0",
      BENCH_ROBOT: "lb-1",
      BENCH_CLOSURE: "binaries",
      BENCH_SLOW_CLOSURE: "both",
      BENCH_DEPLOY_PATHS: "20",
      BENCH_VM_RUNS: "1",
    });
    expect(o).toMatchObject({
      robot: "lb-1",
      runs: 1,
      veth: { mib: 50, kinds: ["binaries"] },
      rtt: { big: 0 },
    });
    expect(o.slow.kinds).toEqual(["random", "binaries"]);
    expect(o.deploy.paths).toBe(20);
    expect(o.vmRuns).toBe(1);
  });

  it.each([
    [["--only", "wifi"], /--only: unknown "wifi"; choose from veth, 20mbit, rtt50/],
    [["--only"], /--only wants a comma-separated list/],
    [["--variants", "--only", "veth"], /--variants wants/],
    [["--variants", ","], /--variants: unknown/],
    [["--fast"], /unknown argument "--fast"/],
    [["--suites", "push"], /--suites: unknown "push"; choose from transfers, redeploy, rollback, relay, vm/],
  ])("refuses %j", (argv, message) => {
    expect(() => parseArgs(argv, {})).toThrow(UsageError);
    expect(() => parseArgs(argv, {})).toThrow(message);
  });

  it.each([
    [{ BENCH_RUNS: "0" }, /BENCH_RUNS must be a number ≥ 1/],
    [{ BENCH_RUNS: "1.5" }, /BENCH_RUNS must be a whole number/],
    [{ BENCH_VM_RUNS: "0" }, /BENCH_VM_RUNS must be a number ≥ 1/],
    [{ BENCH_MB: "lots" }, /BENCH_MB must be a number/],
    [{ BENCH_ROBOT: "../x" }, /BENCH_ROBOT/],
    [{ BENCH_RATE: "20mbit; reboot" }, /BENCH_RATE/],
    [{ BENCH_CLOSURE: "zip" }, /BENCH_CLOSURE must be random, binaries or both/],
    [{ BENCH_SLOW_CLOSURE: "zip" }, /BENCH_SLOW_CLOSURE must be/],
    [{ BENCH_SUITES: "push" }, /BENCH_SUITES is gone: use --suites/],
  ])("refuses the environment %j", (env, message) => {
    expect(() => parseArgs([], env)).toThrow(message);
  });

  it("bounds what it echoes of a bad argument", () => {
    const e = (() => {
      try {
        parseArgs([`--${"x".repeat(5000)}`], {});
      } catch (err) {
        return err as Error;
      }
      throw new Error("accepted");
    })();
    expect(e.message.length).toBeLessThan(100);
  });
});
