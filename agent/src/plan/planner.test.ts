// The planner against the real nix store: two tiny systems built with nix-build (real references,
// real NAR sizes), whose switch-to-configuration prints NixOS's dry-activate lines.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsDataStore } from "../data/store.js";
import { ProcessRunner } from "../system/command.js";
import { FakeSystemInspector, FakeUnits } from "../testing/fakes.js";
import { realPlanner } from "../testing/holds.js";
import { Planner } from "./planner.js";

let dir = "";
const systems: Record<string, string> = {};

const EXPR = `
let
  sh = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" script ]; PATH = "/bin:/usr/bin"; };
  nodes = v: sh "ros-nodes-\${v}" "mkdir -p $out; echo \${v} > $out/version";
  sys = name: v: code: lines: sh name ''
    mkdir -p $out/bin $out/units
    echo \${nodes v} > $out/nodes
    for u in roscore talker listener; do echo x > $out/units/$u.service; done
    printf '%s\\n' \${lines} > $out/dry
    echo \${code} > $out/code
    echo "#!/bin/sh" > $out/bin/switch-to-configuration
    echo "cat $out/dry; exit \\$(cat $out/code)" >> $out/bin/switch-to-configuration
    chmod +x $out/bin/switch-to-configuration
  '';
  lines = "'would stop the following units: listener.service, talker.service' 'would start the following units: listener.service, talker.service'";
in {
  old = sys "nixos-system-robot-1" "1.0" "0" "''";
  new = sys "nixos-system-robot-2" "1.1" "0" lines;
  broken = sys "nixos-system-robot-3" "1.1" "1" "boom";
}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rr-plan-"));
  writeFileSync(join(dir, "default.nix"), EXPR);
  const env = { ...process.env, NIX_CONFIG: "build-users-group =\nsandbox = false\nsubstituters =" };
  for (const a of ["old", "new", "broken"]) {
    systems[a] = execFileSync("nix-build", [join(dir, "default.nix"), "-A", a, "--no-out-link"], {
      env,
      encoding: "utf8",
    }).trim();
  }
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function planner() {
  const system = new FakeSystemInspector();
  for (const p of Object.values(systems)) system.systems.add(p);
  system.running = systems.old;
  return realPlanner(system);
}

describe("Planner (real nix store)", () => {
  it("reports dry-activate's units, the untouched services, and the closure diff", async () => {
    const p = await planner().plan(systems.new as string, AbortSignal.timeout(30_000));
    expect(p.exitCode).toBe(0);
    expect(p.units).toEqual({
      stopped: [],
      started: [],
      restarted: ["listener.service", "talker.service"],
      reloaded: [],
    });
    expect(p.unchanged).toEqual(["roscore.service"]);
    expect(p.closure.changed.map((c) => [c.name, c.oldVersions, c.newVersions])).toEqual([
      ["nixos-system-robot", ["1"], ["2"]],
      ["ros-nodes", ["1.0"], ["1.1"]],
    ]);
    expect([p.closure.oldPaths, p.closure.newPaths]).toEqual([2, 2]);
    expect(p.closure.oldSize).toBeGreaterThan(0);
  });

  it("says how dry-activate failed, and refuses a path that is not a system", async () => {
    const p = await planner().plan(systems.broken as string, AbortSignal.timeout(30_000));
    expect(p.exitCode).toBe(1);
    await expect(
      planner().plan("/nix/store/00000000000000000000000000000000-x", AbortSignal.timeout(5_000)),
    ).rejects.toThrow(/not a system/);
  });

  it("lists the running data writers as interrupted for the snapshot, with the last stop, and as the report will", async () => {
    const system = new FakeSystemInspector();
    for (const p of Object.values(systems)) system.systems.add(p);
    system.running = systems.old;
    const data = new FsDataStore(new ProcessRunner(), new FakeUnits(), {
      stateDir: join(dir, "state"),
      holdDir: join(dir, "holds"),
      entries: [{ path: "/var/lib/db", units: ["db.service", "talker.service"] }],
      keep: 2,
      migrateTimeoutMs: 5_000,
      reserveBytes: 0,
    });
    await data.stops.record(["db.service"], 2_300);
    const running = { "db.service": "d1", "talker.service": "t1", "roscore.service": "r1" };
    const planner = new Planner({
      runner: new ProcessRunner(),
      system,
      nixStore: "nix-store",
      pathForSwitch: process.env.PATH ?? "/usr/bin:/bin",
      timeoutMs: 20_000,
      data,
      units: { invocations: async () => running },
    });
    const p = await planner.plan(systems.new as string, AbortSignal.timeout(30_000));
    expect(p.units).toEqual({
      stopped: [],
      started: [],
      restarted: ["db.service", "listener.service", "talker.service"],
      reloaded: [],
    });
    expect(p.interrupted).toEqual([
      { unit: "db.service", paths: ["/var/lib/db"], lastStoppedMs: 2_300, after: "restarted" },
      { unit: "talker.service", paths: ["/var/lib/db"], lastStoppedMs: undefined, after: "restarted" },
    ]);
    expect(p.unchanged).toEqual(["roscore.service"]);
  });
});
