import { describe, expect, it } from "vitest";
import { gcCommand, parseGcSummary } from "./store-gc.js";

describe("the store's garbage collection unit", () => {
  it("runs nix-store --gc at idle CPU and I/O priority, bounded by systemd", () => {
    const argv = gcCommand("/nix/bin/nix-store", {
      unit: "ros-rollback-gc-1",
      timeoutSeconds: 900,
      maxFreedBytes: undefined,
    });
    expect(argv).toEqual(
      expect.arrayContaining([
        "--unit=ros-rollback-gc-1",
        "--property=Nice=19",
        "--property=IOSchedulingClass=idle",
        "--property=CPUSchedulingPolicy=idle",
        "--property=RuntimeMaxSec=900",
        "--wait",
      ]),
    );
    expect(argv.slice(argv.indexOf("--"))).toEqual(["--", "/nix/bin/nix-store", "--gc"]);
    const bounded = gcCommand("nix-store", { unit: "u", timeoutSeconds: 1, maxFreedBytes: 1048576 });
    expect(bounded.slice(-3)).toEqual(["--gc", "--max-freed", "1048576"]);
  });

  it("reads what nix-store --gc says it freed", () => {
    expect(parseGcSummary("deleting '/nix/store/x'\n12 store paths deleted, 153.27 MiB freed\n")).toEqual({
      deletedPaths: 12,
      freedBytes: Math.round(153.27 * 1048576),
    });
    expect(parseGcSummary("0 store paths deleted, 0.00 MiB freed")).toEqual({
      deletedPaths: 0,
      freedBytes: 0,
    });
    expect(parseGcSummary("1 store path deleted, 2.50 KiB freed")).toEqual({
      deletedPaths: 1,
      freedBytes: 2560,
    });
    expect(parseGcSummary("")).toEqual({ deletedPaths: 0, freedBytes: 0 });
  });
});
