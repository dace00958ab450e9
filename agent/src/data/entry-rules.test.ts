import { describe, expect, it } from "vitest";
import { entriesProblem, entryPathProblem, unitNameProblem } from "./entry-rules.js";

const places = { stateDir: "/var/lib/ros-rollback", holdDir: "/srv/holds" };
const one = (path: string, units: string[] = []) => entriesProblem([{ path, units, name: "data.0" }], places);

describe("entryPathProblem", () => {
  it.each([
    ["/", /is the root directory/],
    ["/nix", /is \/nix, which the system manages/],
    ["/nix/store", /lies inside \/nix/],
    ["/nix/var/nix/profiles", /lies inside \/nix/],
    ["/proc/self", /lies inside \/proc/],
    ["/sys", /is \/sys/],
    ["/dev/shm", /lies inside \/dev/],
    ["/run/ros", /lies inside \/run/],
    ["/boot", /is \/boot/],
    ["/etc", /is \/etc/],
    ["/etc/ros", /lies inside \/etc/],
    ["/usr/share/x", /lies inside \/usr/],
    ["/var/lib", /is \/var\/lib, which holds other software's data/],
    ["/var", /contains \/var\/lib/],
    ["/home", /is \/home/],
    ["/var/lib/ros-rollback", /is the agent's state directory "\/var\/lib\/ros-rollback"/],
    ["/var/lib/ros-rollback/snapshots", /lies inside the agent's state directory/],
    ["/srv/holds", /is the hold directory "\/srv\/holds"/],
    ["/srv/holds/x", /lies inside the hold directory/],
    ["/srv", /is \/srv/],
    ["var/lib/db", /is not an absolute path/],
    ["/var/lib/db/", /is not canonical .*expected "\/var\/lib\/db"/],
    ["/var/lib/../lib/db", /is not canonical/],
    ["/var/lib/./db", /is not canonical/],
    ["//var/lib/db", /is not canonical/],
    ["/var/lib/a\nb", /holds a control character/],
    ["/var/lib/a\u001b]0;x\u0007", /holds a control character/],
    ["/var/lib/a\u009bb", /holds a control character/],
  ])("%j: %s", (path, want) => {
    expect(entryPathProblem(path, places)).toMatch(want);
  });

  it("a stateDir inside an entry is refused (the entry contains it)", () => {
    expect(entryPathProblem("/data", { stateDir: "/data/rr", holdDir: "/run/h" })).toMatch(
      /contains the agent's state directory "\/data\/rr"/,
    );
    expect(entryPathProblem("/data", { stateDir: "/var/lib/rr", holdDir: "/data/holds" })).toMatch(
      /contains the hold directory/,
    );
  });

  it.each([
    "/var/lib/mapdb",
    "/var/lib/labdb",
    "/home/ros/maps",
    "/srv/maps",
    "/opt/robot/db",
    "/data/db",
    "/var/lib/ros-rollbackx",
  ])("accepts %s", (path) => {
    expect(entryPathProblem(path, places)).toBeUndefined();
  });
});

describe("unitNameProblem", () => {
  it.each([
    "db.service",
    "mapper@0.service",
    "var-lib-db.mount",
    "a:b_c.d-e.socket",
    "x\\x2dy.service",
    "nightly.timer",
    "ros.target",
    `${"a".repeat(247)}.service`,
  ])("accepts %j", (u) => {
    expect(unitNameProblem(u)).toBeUndefined();
  });

  it.each([
    ["../../etc/passwd", /is not a systemd unit name/],
    ["-x; rm -rf /", /is not a systemd unit name/],
    ["-x.service", /is not a systemd unit name/],
    ["db", /is not a systemd unit name/],
    ["db.exe", /is not a systemd unit name/],
    ["db service.service", /is not a systemd unit name/],
    ["a/b.service", /is not a systemd unit name/],
    ["mapper@.service", /is not a systemd unit name/],
    ["db.service\n", /is not a systemd unit name/],
    [`${"a".repeat(248)}.service`, /is longer than systemd's 255 characters/],
  ])("refuses %j", (u, want) => {
    expect(unitNameProblem(u)).toMatch(want);
  });
});

describe("entriesProblem", () => {
  it("names the entry and quotes what it was given, on one bounded line", () => {
    expect(one("/nix/store")).toBe(
      'data.0.path "/nix/store" lies inside /nix, which the system manages: restoring it would corrupt the system',
    );
    expect(one("/var/lib/db", ["db.service", "-x; rm -rf /"])).toMatch(
      /^data\.0\.units\.1 "-x; rm -rf \/" is not a systemd unit name/,
    );
    const long = one(`/etc/${"x".repeat(100_000)}\n`);
    expect(long).not.toContain("\n");
    expect(long?.length).toBeLessThan(600);
    expect(one("/var/lib/a\u009b2J")).toContain("\\u009b");
  });

  it("refuses two entries that repeat or nest, in either order", () => {
    const e = (path: string, i: number) => ({ path, units: [], name: `data.${i}` });
    expect(entriesProblem([e("/var/lib/a", 0), e("/var/lib/a", 1)], places)).toBe(
      'data.1.path "/var/lib/a" repeats data.0.path',
    );
    expect(entriesProblem([e("/var/lib/a", 0), e("/var/lib/a/b", 1)], places)).toMatch(
      /^data\.1\.path "\/var\/lib\/a\/b" and data\.0\.path "\/var\/lib\/a" nest/,
    );
    expect(entriesProblem([e("/var/lib/a/b", 0), e("/var/lib/a", 1)], places)).toMatch(/nest/);
    expect(entriesProblem([e("/var/lib/a", 0), e("/var/lib/ab", 1)], places)).toBeUndefined();
  });
});
