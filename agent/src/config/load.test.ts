import { describe, expect, it } from "vitest";
import { compileConfig, isLoopbackListen } from "./load.js";

const key = "lab-1:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=";
const tls = { caFile: "/etc/rr/ca.pem", certFile: "/etc/rr/agent.pem", keyFile: "/etc/rr/agent.key" };

describe("compileConfig", () => {
  it("fills in every default", () => {
    const c = compileConfig({ listen: "0.0.0.0:50051", tls, trustedPublicKeys: [key] });
    expect(c).toMatchObject({
      profile: "/nix/var/nix/profiles/system",
      stateDir: "/var/lib/ros-rollback",
      insecure: false,
      autoRollback: true,
      deleteFailedGenerations: true,
      activationTimeoutSeconds: 600,
      switchLockFile: "/run/nixos/switch-to-configuration.lock",
    });
  });

  it("compiles hold conditions; a topic condition needs health.ros; bad ones name the key", () => {
    const base = { listen: "0.0.0.0:1", tls, trustedPublicKeys: [key] };
    expect(compileConfig(base).holds).toEqual({ dir: "/run/ros-rollback/holds", conditions: [] });
    const topic = { kind: "topic", topic: "/mission_state", releasedWhen: ["idle"] };
    const unit = { kind: "unit", unit: "mission.service" };
    expect(() => compileConfig({ ...base, holds: { conditions: [topic] } })).toThrow(/needs health.ros/);
    const c = compileConfig({
      ...base,
      health: { ros: { masterUri: "http://127.0.0.1:11311" } },
      holds: { dir: "/run/h", conditions: [unit, topic] },
    });
    expect(c.holds).toEqual({ dir: "/run/h", conditions: [unit, topic] });
    expect(() =>
      compileConfig({ ...base, holds: { conditions: [{ kind: "unit", unit: "rm -rf" }] } }),
    ).toThrow(/holds.conditions.0.unit: expected a unit name/);
    expect(() =>
      compileConfig({ ...base, holds: { conditions: [{ kind: "topic", topic: "/t", releasedWhen: [] }] } }),
    ).toThrow(/holds.conditions.0.releasedWhen/);
  });

  it("refuses unknown keys, naming them", () => {
    expect(() => compileConfig({ listen: "0.0.0.0:1", tls, trustedPublicKeys: [key], profil: "/x" })).toThrow(
      /unknown key "profil"/,
    );
    expect(() =>
      compileConfig({ listen: "0.0.0.0:1", tls: { ...tls, ca: "/x" }, trustedPublicKeys: [key] }),
    ).toThrow(/unknown key "tls.ca"/);
  });

  it("names the key of a bad value", () => {
    expect(() => compileConfig({ listen: "nope", tls, trustedPublicKeys: [key] })).toThrow(
      /listen: expected host:port/,
    );
    expect(() => compileConfig({ listen: "0.0.0.0:1", tls, trustedPublicKeys: ["x"] })).toThrow(
      /trustedPublicKeys.0: expected name:base64/,
    );
    expect(() =>
      compileConfig({ listen: "0.0.0.0:1", tls, trustedPublicKeys: [key], profile: "rel" }),
    ).toThrow(/profile:/);
  });

  it("substituters: none by default; http(s) and file:/// URLs, normalised; anything else refused", () => {
    expect(compileConfig({ listen: "0.0.0.0:1", tls, trustedPublicKeys: [key] }).substituters).toEqual([]);
    const c = compileConfig({
      listen: "0.0.0.0:1",
      tls,
      trustedPublicKeys: [key],
      substituters: [
        "http://10.0.0.1:8080/",
        "https://cache.example/x",
        "file:///srv/cache",
        "http://10.0.0.1:8080",
      ],
    });
    expect(c.substituters).toEqual(["http://10.0.0.1:8080", "https://cache.example/x", "file:///srv/cache"]);
    for (const bad of ["ssh://host", "s3://bucket", "file://rel", "http://", "daemon"]) {
      expect(() =>
        compileConfig({ listen: "0.0.0.0:1", tls, trustedPublicKeys: [key], substituters: [bad] }),
      ).toThrow(/substituters.0: expected an http\(s\):\/\/ or file:\/\/\/ cache URL/);
    }
  });

  it("gc.reserve: 512 MiB by default; bytes or a percent; anything else refused, naming the key", () => {
    const base = { listen: "0.0.0.0:1", tls, trustedPublicKeys: [key] };
    expect(compileConfig(base).gc.reserve).toEqual({ bytes: 512 * 1048576 });
    expect(compileConfig({ ...base, gc: { reserve: 1000 } }).gc.reserve).toEqual({ bytes: 1000 });
    expect(compileConfig({ ...base, gc: { reserve: "5%" } }).gc.reserve).toEqual({ percent: 5 });
    expect(compileConfig({ ...base, gc: { reserve: "2.5%" } }).gc.reserve).toEqual({ percent: 2.5 });
    for (const bad of ["150%", "5", "-1%", -1, "1 GiB"])
      expect(() => compileConfig({ ...base, gc: { reserve: bad } })).toThrow(/gc.reserve/);
  });

  it("requires TLS unless insecure on loopback", () => {
    expect(() => compileConfig({ listen: "0.0.0.0:1", trustedPublicKeys: [key] })).toThrow(/tls: required/);
    expect(() => compileConfig({ listen: "0.0.0.0:1", insecure: true, trustedPublicKeys: [key] })).toThrow(
      /only on a loopback address/,
    );
    expect(compileConfig({ listen: "127.0.0.1:1", insecure: true, trustedPublicKeys: [key] }).insecure).toBe(
      true,
    );
    // Both is a contradiction: refused rather than served as plaintext.
    expect(() =>
      compileConfig({ listen: "127.0.0.1:1", insecure: true, tls, trustedPublicKeys: [key] }),
    ).toThrow(/insecure: true and tls are both set/);
  });
});

describe("isLoopbackListen", () => {
  it.each([
    ["127.0.0.1:50051", true],
    ["127.9.9.9:1", true],
    ["localhost:1", true],
    ["[::1]:1", true],
    ["0.0.0.0:1", false],
    ["[::]:1", false],
    ["10.0.0.2:1", false],
    ["robot.example:1", false],
  ])("%s → %s", (listen, want) => {
    expect(isLoopbackListen(listen)).toBe(want);
  });
});
