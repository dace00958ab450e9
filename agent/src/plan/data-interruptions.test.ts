import { describe, expect, it } from "vitest";
import { planDataUnits } from "./data-interruptions.js";

const none = { stopped: [], started: [], restarted: [], reloaded: [] };

describe("planDataUnits: the data writers in the plan, as the report will list them", () => {
  it("a running writer the switch leaves alone is interrupted for the snapshot and restarted", () => {
    const p = planDataUnits({
      entries: [{ path: "/var/lib/db", units: ["db.service"] }],
      running: { "db.service": "1", "roscore.service": "2" },
      dry: none,
      services: ["db.service", "roscore.service"],
      lastStopped: new Map([["db.service", 1500]]),
    });
    expect(p.units).toEqual({ ...none, restarted: ["db.service"] });
    expect(p.interrupted).toEqual([
      { unit: "db.service", paths: ["/var/lib/db"], lastStoppedMs: 1500, after: "restarted" },
    ]);
  });

  it("a running writer the new system drops is stopped; one reloaded by the switch is restarted", () => {
    const p = planDataUnits({
      entries: [
        { path: "/var/lib/maps", units: ["map.service", "old.service"] },
        { path: "/var/lib/db", units: ["map.service"] },
      ],
      running: { "map.service": "1", "old.service": "2" },
      dry: { ...none, stopped: ["old.service"], reloaded: ["map.service"] },
      services: ["map.service"],
      lastStopped: new Map(),
    });
    expect(p.units).toEqual({ ...none, stopped: ["old.service"], restarted: ["map.service"] });
    expect(p.interrupted).toEqual([
      {
        unit: "map.service",
        paths: ["/var/lib/maps", "/var/lib/db"],
        lastStoppedMs: undefined,
        after: "restarted",
      },
      { unit: "old.service", paths: ["/var/lib/maps"], lastStoppedMs: undefined, after: "stopped" },
    ]);
  });

  it("a writer not running now is not interrupted: started when the new system has it, else nothing", () => {
    const p = planDataUnits({
      entries: [{ path: "/var/lib/db", units: ["db.service", "gone.service"] }],
      running: { "db.service": "" },
      dry: { ...none, restarted: ["talker.service"] },
      services: ["db.service", "talker.service"],
      lastStopped: new Map([["db.service", 10]]),
    });
    expect(p.units).toEqual({ ...none, started: ["db.service"], restarted: ["talker.service"] });
    expect(p.interrupted).toEqual([]);
  });
});
