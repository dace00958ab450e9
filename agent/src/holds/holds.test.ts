import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../errors.js";
import type { HoldCondition } from "./conditions.js";
import { evaluateConditions } from "./conditions.js";
import { Holds } from "./holds.js";
import { overrideHoldsFromPb } from "./override.js";
import { HoldStore } from "./store.js";

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-holds-"));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));
const signal = () => AbortSignal.timeout(5_000);

describe("HoldStore (a real file)", () => {
  it("keeps holds across instances (agent restarts), replaces by name, releases one or all", async () => {
    const dir = join(tmp, "store");
    let now = 1_000_000;
    const a = new HoldStore(dir, () => now);
    await a.set("mission", "waypoint run", undefined);
    await a.set("ops", "maintenance window", 60);
    await a.set("mission", "second run", undefined);
    const b = new HoldStore(dir, () => now);
    expect((await b.list()).map((h) => [h.name, h.reason, h.source])).toEqual([
      ["ops", "maintenance window", "command"],
      ["mission", "second run", "command"],
    ]);
    // A hold given a duration expires by itself.
    now += 61_000;
    expect((await b.list()).map((h) => h.name)).toEqual(["mission"]);
    expect(await b.release("nope")).toEqual([]);
    await b.set("x", "y", undefined);
    // Setting a hold drops the expired ones from the file.
    expect((await b.release(undefined)).sort()).toEqual(["mission", "x"]);
    expect(await new HoldStore(dir, () => now).list()).toEqual([]);
  });

  it("refuses bad names, reasons and durations, and changes nothing", async () => {
    const s = new HoldStore(join(tmp, "bad"), () => 0);
    expect(() => s.set("../etc", "r", undefined)).toThrow(/invalid hold name/);
    expect(() => s.set("a".repeat(65), "r", undefined)).toThrow(/invalid hold name/);
    expect(() => s.set("ok", "  ", undefined)).toThrow(/reason/);
    expect(() => s.set("ok", "r".repeat(201), undefined)).toThrow(/reason/);
    expect(() => s.set("ok", "demo\u001b]0;owned\u0007", undefined)).toThrow(/control character/);
    expect(() => s.set("ok", "two\nlines", undefined)).toThrow(/control character/);
    expect(() => s.set("ok", "r", 0)).toThrow(/duration/);
    expect(() => s.set("ok", "r", 1.5)).toThrow(/duration/);
    expect(await s.list()).toEqual([]);
  });

  it("holds the robot when the hold file is damaged, saying which file", async () => {
    const dir = join(tmp, "damaged");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "holds.json"), "{not json");
    const [h, ...rest] = await new HoldStore(dir, () => 0).list();
    expect(rest).toEqual([]);
    expect(h?.reason).toMatch(/holds\.json is unreadable/);
  });

  it("serializes concurrent changes: none is lost", async () => {
    const s = new HoldStore(join(tmp, "race"), () => 5);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.set(`h${i}`, `r${i}`, undefined)));
    expect((await s.list()).length).toBe(20);
  });
});

const fakeRos = (last: Record<string, string | undefined>, synced: string[][]) => ({
  query: async () => ({ runId: "r", publishers: new Map(), topicTypes: new Map(), nodes: new Set<string>() }),
  sync: async (topics: readonly string[]) => {
    synced.push([...topics]);
  },
  lastString: (t: string) => last[t],
});

describe("hold conditions", () => {
  const conditions: HoldCondition[] = [
    { kind: "unit", unit: "mission.service" },
    { kind: "topic", topic: "/mission_state", releasedWhen: ["idle", "docked"] },
  ];

  it("holds while the unit is active and while the topic's latest message is not a released value", async () => {
    const synced: string[][] = [];
    const last: Record<string, string | undefined> = { "/mission_state": "executing" };
    let unit = "active";
    const deps = { unitState: async () => unit, ros: fakeRos(last, synced) };
    const held = await evaluateConditions(conditions, deps, signal());
    expect(held.map((h) => [h.name, h.reason])).toEqual([
      ["unit:mission.service", "mission.service is active"],
      ["topic:/mission_state", '/mission_state says "executing"'],
    ]);
    expect(synced).toEqual([["/mission_state"]]);
    unit = "inactive";
    last["/mission_state"] = "docked";
    expect(await evaluateConditions(conditions, deps, signal())).toEqual([]);
  });

  it("counts unknown as held: no message yet, no ROS config, an unreadable unit", async () => {
    const noMsg = await evaluateConditions(
      conditions,
      {
        unitState: async () => {
          throw new Error("systemctl: boom");
        },
        ros: fakeRos({}, []),
      },
      signal(),
    );
    expect(noMsg.map((h) => h.reason)).toEqual([
      "cannot read mission.service (systemctl: boom)",
      "no message with a string on /mission_state yet",
    ]);
    const noRos = await evaluateConditions(
      conditions,
      { unitState: async () => "inactive", ros: undefined },
      signal(),
    );
    expect(noRos.map((h) => h.reason)).toEqual(["no ROS config (health.ros) to read /mission_state"]);
  });
});

describe("Holds", () => {
  it("refuses with HELD naming every hold, bounded, and counts the refusal", async () => {
    const dir = join(tmp, "all");
    const store = new HoldStore(join(dir, "state"), () => 0);
    await store.set("operator", "do not touch", undefined);
    await mkdir(join(dir, "holds"), { recursive: true });
    for (let i = 0; i < 15; i++)
      await writeFile(join(dir, "holds", `f${String(i).padStart(2, "0")}`), "z".repeat(500));
    const refused: number[] = [];
    const holds = new Holds({
      store,
      dir: join(dir, "holds"),
      conditions: [{ kind: "unit", unit: "mission.service" }],
      conditionDeps: { unitState: async () => "active", ros: undefined },
      onRefused: (h) => refused.push(h.length),
    });
    const err = await holds.assertFree(signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "HELD" });
    const msg = (err as Error).message;
    expect(msg).toMatch(/^the robot is held: command hold "operator": do not touch; file hold "f00"/);
    // The list gives way to the override hint, which names the first ten holds exactly.
    expect(msg).toMatch(
      /… \(\d+ more characters\) \(to go ahead anyway: --override-hold operator --override-hold f00 /,
    );
    expect(msg).toMatch(/--override-hold f08 …\)$/);
    expect(msg.length).toBeLessThan(2000);
    expect(refused).toEqual([17]);
    await store.release(undefined);
    await rm(join(dir, "holds"), { recursive: true });
    const free = new Holds({
      store,
      dir: join(dir, "holds"),
      conditions: [],
      conditionDeps: { unitState: async () => "active", ros: undefined },
    });
    await free.assertFree(signal());
  });
});

describe("keeping the topics of hold conditions warm", () => {
  const holdsWith = (conditions: HoldCondition[], ros: ReturnType<typeof fakeRos> | undefined) =>
    new Holds({
      store: new HoldStore(join(tmp, "warm", "state"), () => 0),
      dir: join(tmp, "warm", "holds"),
      conditions,
      conditionDeps: { unitState: async () => "inactive", ros },
    });

  it("runs no loop at all without topic conditions (files, commands and units are read when asked)", async () => {
    let queries = 0;
    const ros = {
      ...fakeRos({}, []),
      query: async () => {
        queries += 1;
        return fakeRos({}, []).query();
      },
    };
    const stop = holdsWith([{ kind: "unit", unit: "mission.service" }], ros).keepTopicsWarm(1, () => {});
    // A loop would have asked the master synchronously, before its first await.
    await new Promise((r) => setImmediate(r));
    expect(queries).toBe(0);
    stop();
  });

  it("syncs only the topic conditions' topics, round after round, until stopped", async () => {
    const synced: string[][] = [];
    let rounds = 0;
    let twice: () => void = () => {};
    const done = new Promise<void>((r) => {
      twice = r;
    });
    const base = fakeRos({}, synced);
    const ros = {
      ...base,
      sync: async (topics: readonly string[]) => {
        await base.sync(topics);
        rounds += 1;
        if (rounds === 2) twice();
      },
    };
    const conditions: HoldCondition[] = [
      { kind: "unit", unit: "mission.service" },
      { kind: "topic", topic: "/mission_state", releasedWhen: ["idle"] },
    ];
    const stop = holdsWith(conditions, ros).keepTopicsWarm(1, (e) => {
      throw e;
    });
    await done;
    stop();
    expect(synced.slice(0, 2)).toEqual([["/mission_state"], ["/mission_state"]]);
  });
});

describe("overriding holds", () => {
  it("hints each name exactly as it must be typed, a long condition name too, and admits it when named", async () => {
    const topic = `/${"mission_state_".repeat(7)}`;
    const holds = new Holds({
      store: new HoldStore(join(tmp, "override", "state"), () => 0),
      dir: join(tmp, "override", "holds"),
      conditions: [{ kind: "topic", topic, releasedWhen: ["idle"] }],
      conditionDeps: { unitState: async () => "inactive", ros: undefined },
    });
    const name = `topic:${topic}`;
    expect(name.length).toBeGreaterThan(64);
    await expect(holds.assertFree(signal(), ["mission"])).rejects.toMatchObject({
      code: "HELD",
      message: expect.stringMatching(new RegExp(`\\(to go ahead anyway: --override-hold ${name}\\)$`)),
    });
    const split = await holds.assertFree(signal(), [name, "mission"]);
    expect(split.overridden.map((h) => h.name)).toEqual([name]);
    expect(split.notHeld).toEqual(["mission"]);
  });

  it("checks a request's names: duplicates dropped, bounds named", () => {
    expect(overrideHoldsFromPb(["a", "b", "a"])).toEqual(["a", "b"]);
    expect(overrideHoldsFromPb(Array.from({ length: 32 }, (_, i) => `h${i}`))).toHaveLength(32);
    expect(overrideHoldsFromPb(["x".repeat(256), "ünïcode hold"])).toHaveLength(2);
    expect(() => overrideHoldsFromPb(["ok", "\u0000"])).toThrow(
      /override_holds\[1\] "\\u0000" \(1 characters\)/,
    );
    expect(() => overrideHoldsFromPb(["\ud800"])).toThrow(AgentError);
  });
});
