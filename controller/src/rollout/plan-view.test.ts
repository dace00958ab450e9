import { PlanResponse, StoreSpace } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { planJson, planText } from "./plan.js";
import { planSpace } from "./plan-space.js";

const response = PlanResponse.fromPartial({
  currentSystem: "/nix/store/aaa-old",
  storePath: "/nix/store/bbb-new",
  units: { restarted: ["labdb.service", "talker.service"], known: true },
  unchanged: ["roscore.service"],
  interrupted: [
    { unit: "labdb.service", paths: ["/var/lib/labdb"], lastStoppedMs: 2345, after: "restarted" },
    { unit: "mapper.service", paths: ["/var/lib/maps", "/var/lib/tiles"], after: "stopped" },
  ],
});

describe("the plan view of the data writers", () => {
  it("JSON lists each interrupted writer with its last stop (null when unknown) and what follows", () => {
    expect(planJson("r1", response).interrupted).toEqual([
      { unit: "labdb.service", paths: ["/var/lib/labdb"], lastStoppedMs: 2345, after: "restarted" },
      {
        unit: "mapper.service",
        paths: ["/var/lib/maps", "/var/lib/tiles"],
        lastStoppedMs: null,
        after: "stopped",
      },
    ]);
  });

  it("text says they are stopped for the snapshot, for how long last time, and what the switch then does", () => {
    expect(planText(planJson("r1", response)).split("\n").slice(1, 5)).toEqual([
      "units:     restarted: labdb.service, talker.service",
      "stopped for the data snapshot, before the switch:",
      "  labdb.service for /var/lib/labdb (stopped 2.3 s last time), then restarted",
      "  mapper.service for /var/lib/maps, /var/lib/tiles, then stays stopped: the new system drops it",
    ]);
  });

  it("a plan without data writers reads as before", () => {
    const text = planText(planJson("r1", { ...response, interrupted: [] }));
    expect(text).not.toContain("snapshot");
  });
});

describe("the plan's space line", () => {
  const MiB = 1024 ** 2;
  const push = { bytesMissing: 300 * MiB } as Parameters<typeof planSpace>[0];
  const space = (free: number) =>
    StoreSpace.fromPartial({
      storeFreeBytes: free,
      storeSizeBytes: 8192 * MiB,
      storeReserveBytes: 512 * MiB,
    });

  it("fits when the missing NAR bytes leave the reserve free, not when they eat into it", () => {
    expect(planSpace(push, space(812 * MiB))).toEqual({
      bytesMissing: 300 * MiB,
      storeFreeBytes: 812 * MiB,
      reserveBytes: 512 * MiB,
      verdict: "fits",
    });
    expect(planSpace(push, space(812 * MiB - 1))?.verdict).toBe("does not fit");
  });

  it("is left out when the agent did not report its space", () => {
    expect(planSpace(push, undefined)).toBeNull();
    expect(planText(planJson("r1", response))).not.toContain("space:");
  });

  it("text: needed, free, reserve, verdict", () => {
    const text = planText(planJson("r1", response, planSpace(push, space(600 * MiB))));
    expect(text.split("\n")[1]).toBe(
      "space:     needs 300 MiB, 600 MiB free on the store, reserve 512 MiB: does not fit",
    );
  });
});
