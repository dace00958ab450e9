import { describe, expect, it } from "vitest";
import { fleetInventory, fleetInventoryPath, fleetLabels, mapBounded } from "./fleet.js";
import { LabError } from "./proc.js";

const target = (name: string, k: number) => ({
  address: `10.231.${k}.2:50051`,
  caFile: `/lab/${name}/ca.pem`,
  certFile: `/lab/${name}/controller.pem`,
  keyFile: `/lab/${name}/controller.key`,
  serverName: name,
});

describe("fleet inventory", () => {
  it("labels each robot with its 1-based position in the list and that position's parity", () => {
    expect(fleetLabels(1)).toEqual({ index: "1", parity: "odd" });
    expect(fleetLabels(4)).toEqual({ index: "4", parity: "even" });
  });

  it("holds every robot in the order given, each target as up wrote it plus labels", () => {
    const members = [
      { name: "fl-2", target: target("fl-2", 9) },
      { name: "fl-1", target: target("fl-1", 3) },
      { name: "fl-3", target: target("fl-3", 4) },
    ];
    const inv = JSON.parse(fleetInventory(members)) as { targets: Record<string, unknown> };
    expect(Object.keys(inv.targets)).toEqual(["fl-2", "fl-1", "fl-3"]);
    expect(inv.targets["fl-2"]).toEqual({ ...target("fl-2", 9), labels: { index: "1", parity: "odd" } });
    expect(inv.targets["fl-1"]).toEqual({ ...target("fl-1", 3), labels: { index: "2", parity: "even" } });
    expect(inv.targets["fl-3"]).toMatchObject({ labels: { index: "3", parity: "odd" } });
  });

  it("refuses no robot, a robot named twice, and a bad name", () => {
    expect(() => fleetInventory([])).toThrow(LabError);
    const twice = [
      { name: "fl-1", target: target("fl-1", 1) },
      { name: "fl-1", target: target("fl-1", 1) },
    ];
    expect(() => fleetInventory(twice)).toThrow(/named twice/);
    expect(() => fleetInventory([{ name: "../x", target: {} }])).toThrow(LabError);
  });

  it("writes one file per ordered list of names, whatever their number or length", () => {
    const many = Array.from({ length: 200 }, (_, i) => `robot-with-a-long-name-${i}`);
    expect(fleetInventoryPath(many)).toMatch(
      /^\/var\/lib\/ros-rollback-lab\/inventories\/fleet-[0-9a-f]{16}\.json$/,
    );
    expect(fleetInventoryPath(["a", "b"])).toBe(fleetInventoryPath(["a", "b"]));
    expect(fleetInventoryPath(["a", "b"])).not.toBe(fleetInventoryPath(["b", "a"]));
    // The names are joined with a separator a name cannot hold.
    expect(fleetInventoryPath(["ab"])).not.toBe(fleetInventoryPath(["a", "b"]));
  });
});

describe("mapBounded", () => {
  it("never runs more than `limit` at once, yet runs `limit` at once, and keeps the list's order", async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 7 }, () => {
      let resolve = (): void => undefined;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    });
    const done = mapBounded([0, 1, 2, 3, 4, 5, 6], 3, async (i) => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await gates[i]?.promise;
      running--;
      return i * 10;
    });
    // Let the first workers reach their gates, then release them in reverse order.
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const g of [...gates].reverse()) {
      g.resolve();
      await new Promise((r) => setImmediate(r));
    }
    const results = await done;
    expect(peak).toBe(3);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : undefined))).toEqual([
      0, 10, 20, 30, 40, 50, 60,
    ]);
  });

  it("settles every item: one failure does not stop the others", async () => {
    const seen: number[] = [];
    const results = await mapBounded([1, 2, 3], 1, async (i) => {
      seen.push(i);
      if (i === 2) throw new LabError("boom");
      return i;
    });
    expect(seen).toEqual([1, 2, 3]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });

  it("refuses a parallelism below 1", async () => {
    await expect(mapBounded([1], 0, async (i) => i)).rejects.toThrow(LabError);
  });
});
