import { describe, expect, it } from "vitest";
import { AgentError } from "../errors.js";
import { mergeHealthSpec } from "./per-deploy.js";
import { checkIds, compileHealthConfig, HEALTH_DEFAULTS } from "./spec.js";

const base = compileHealthConfig({
  systemd: { units: [{ name: "talker.service" }, { name: "setup.service", required: false }] },
  ros: { topics: [{ name: "/chatter", minRateHz: 5, maxSilenceSeconds: 2 }], requiredNodes: ["/talker"] },
  exec: [{ name: "disk", argv: ["/bin/true"] }],
});

function refused(perDeploy: unknown, spec = base): string {
  try {
    mergeHealthSpec(spec, perDeploy);
  } catch (e) {
    expect(e).toBeInstanceOf(AgentError);
    expect((e as AgentError).code).toBe("INVALID_ARGUMENT");
    return (e as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("healthConfigSchema / compileHealthConfig", () => {
  it("fills every default", () => {
    const s = compileHealthConfig({ ros: {} });
    expect(s).toEqual({
      settleSeconds: 5,
      stableSeconds: 30,
      timeoutSeconds: 300,
      intervalSeconds: 2,
      checkTimeoutSeconds: 10,
      systemd: { units: [], otherUnits: "ignore", ignoreFailed: [] },
      ros: {
        masterUri: "http://127.0.0.1:11311",
        nodeName: "/ros_rollback_health",
        advertiseIp: "127.0.0.1",
        masterTimeoutSeconds: 3,
        rateWindowSeconds: 5,
        topics: [],
        requiredNodes: [],
      },
      exec: [],
      http: [],
      deploy: { allowAdd: ["unit", "topic", "node"], maxTotalSeconds: 305 },
    });
    expect(compileHealthConfig({}).ros).toBeUndefined();
  });

  it("fills per-check defaults", () => {
    expect(base.systemd.units).toEqual([
      { name: "talker.service", required: true },
      { name: "setup.service", required: false },
    ]);
    expect(base.exec[0]?.timeoutSeconds).toBe(HEALTH_DEFAULTS.checkTimeoutSeconds);
    const s = compileHealthConfig({
      ros: { topics: [{ name: "/a" }] },
      http: [{ name: "h", url: "http://x/" }],
    });
    expect(s.ros?.topics[0]).toEqual({ name: "/a", minRateHz: undefined, maxSilenceSeconds: 5 });
    expect(s.http[0]).toEqual({ name: "h", url: "http://x/", expectStatus: 200, timeoutSeconds: 10 });
  });

  it("refuses unknown keys, bad names, duplicates and a stable period longer than the timeout", () => {
    expect(() => compileHealthConfig({ stableSecs: 3 })).toThrow();
    expect(() => compileHealthConfig({ ros: { topics: [{ name: "/a", minRate: 1 }] } })).toThrow();
    expect(() => compileHealthConfig({ ros: { topics: [{ name: "chatter" }] } })).toThrow();
    expect(() => compileHealthConfig({ systemd: { units: [{ name: "-x" }] } })).toThrow();
    expect(() =>
      compileHealthConfig({ systemd: { units: [{ name: "a.service" }, { name: "a.service" }] } }),
    ).toThrow(/listed twice/);
    expect(() => compileHealthConfig({ stableSeconds: 60, timeoutSeconds: 30 })).toThrow(/cannot fit/);
  });

  it("lists check ids in report order", () => {
    expect(checkIds(base)).toEqual([
      "unit:talker.service",
      "unit:setup.service",
      "ros:master",
      "node:/talker",
      "topic:/chatter",
      "exec:disk",
    ]);
  });
});

describe("mergeHealthSpec", () => {
  it("returns the configured spec for an empty request", () => {
    expect(mergeHealthSpec(base, {})).toEqual(base);
    expect(mergeHealthSpec(base, undefined)).toEqual(base);
  });

  it("drops checks by id; dropping the master drops every ROS check", () => {
    const s = mergeHealthSpec(base, { drop: ["unit:setup.service", "exec:disk", "topic:/chatter"] });
    expect(checkIds(s)).toEqual(["unit:talker.service", "ros:master", "node:/talker"]);
    expect(mergeHealthSpec(base, { drop: ["ros:master"] }).ros).toBeUndefined();
  });

  it("adds checks of allowed kinds", () => {
    const s = mergeHealthSpec(base, {
      units: [{ name: "camera.service" }],
      topics: [{ name: "/scan", maxSilenceSeconds: 1 }],
      requiredNodes: ["/lidar"],
    });
    expect(checkIds(s)).toEqual([
      "unit:talker.service",
      "unit:setup.service",
      "unit:camera.service",
      "ros:master",
      "node:/talker",
      "node:/lidar",
      "topic:/chatter",
      "topic:/scan",
      "exec:disk",
    ]);
  });

  it("refuses adding kinds the config does not allow (exec and http by default)", () => {
    expect(refused({ exec: [{ name: "evil", argv: ["/bin/rm", "-rf", "/"] }] })).toMatch(
      /cannot add exec check evil/,
    );
    expect(refused({ http: [{ name: "h", url: "http://10.0.0.1/" }] })).toMatch(/cannot add http check h/);
    const strict = compileHealthConfig({ ros: {}, deploy: { allowAdd: [] } });
    expect(refused({ topics: [{ name: "/x" }] }, strict)).toMatch(/cannot add topic check/);
    expect(refused({ requiredNodes: ["/x"] }, strict)).toMatch(/cannot add node check/);
    expect(refused({ topics: [{ name: "/x" }] }, compileHealthConfig({}))).toMatch(/no ros section/);
  });

  it("tightens thresholds", () => {
    const s = mergeHealthSpec(base, {
      units: [{ name: "setup.service", required: true }],
      topics: [{ name: "/chatter", minRateHz: 8, maxSilenceSeconds: 1 }],
      exec: [{ name: "disk", argv: ["/bin/true"], timeoutSeconds: 2 }],
      stableSeconds: 60,
    });
    expect(s.systemd.units[1]).toEqual({ name: "setup.service", required: true });
    expect(s.ros?.topics[0]).toEqual({ name: "/chatter", minRateHz: 8, maxSilenceSeconds: 1 });
    expect(s.exec[0]?.timeoutSeconds).toBe(2);
    expect(s.stableSeconds).toBe(60);
  });

  it("refuses loosening, naming every violation", () => {
    const msg = refused({
      units: [{ name: "talker.service", required: false }],
      topics: [{ name: "/chatter", minRateHz: 1, maxSilenceSeconds: 10 }],
      exec: [{ name: "disk", argv: ["/bin/false"], timeoutSeconds: 60 }],
      stableSeconds: 5,
    });
    expect(msg).toMatch(/unit talker.service may not become optional/);
    expect(msg).toMatch(/minRateHz may only rise from 5/);
    expect(msg).toMatch(/maxSilenceSeconds may only fall from 2/);
    expect(msg).toMatch(/argv may not change/);
    expect(msg).toMatch(/timeoutSeconds may only fall from 10/);
    expect(msg).toMatch(/stableSeconds may only rise from 30/);
    // Restating a field does not get around the rules.
    expect(refused({ topics: [{ name: "/chatter", minRateHz: 4.9 }] })).toMatch(
      /minRateHz may only rise from 5/,
    );
    expect(refused({ topics: [{ name: "/chatter", maxSilenceSeconds: 2.5 }] })).toMatch(
      /maxSilenceSeconds may only fall from 2/,
    );
  });

  it("keeps the configured value of every field a tightening leaves out (not the default)", () => {
    // The lab robot's topic: maxSilenceSeconds 3 is below the default 5.
    const lab = compileHealthConfig({
      systemd: { units: [{ name: "a.service", required: false }] },
      ros: { topics: [{ name: "/chatter", minRateHz: 2, maxSilenceSeconds: 3 }] },
      exec: [{ name: "disk", argv: ["/bin/true"], timeoutSeconds: 4 }],
      http: [{ name: "api", url: "http://127.0.0.1:8080/", expectStatus: 204, timeoutSeconds: 3 }],
    });
    const s = mergeHealthSpec(lab, {
      units: [{ name: "a.service" }],
      topics: [{ name: "/chatter", minRateHz: 5 }],
      exec: [{ name: "disk" }],
      http: [{ name: "api", timeoutSeconds: 2 }],
    });
    expect(s.systemd.units).toEqual([{ name: "a.service", required: false }]);
    expect(s.ros?.topics).toEqual([{ name: "/chatter", minRateHz: 5, maxSilenceSeconds: 3 }]);
    expect(s.exec).toEqual([{ name: "disk", argv: ["/bin/true"], timeoutSeconds: 4 }]);
    expect(s.http).toEqual([
      { name: "api", url: "http://127.0.0.1:8080/", expectStatus: 204, timeoutSeconds: 2 },
    ]);
    // Only maxSilenceSeconds: minRateHz stays 2.
    expect(
      mergeHealthSpec(lab, { topics: [{ name: "/chatter", maxSilenceSeconds: 1 }] }).ros?.topics,
    ).toEqual([{ name: "/chatter", minRateHz: 2, maxSilenceSeconds: 1 }]);
    // A name alone changes nothing.
    expect(mergeHealthSpec(lab, { topics: [{ name: "/chatter" }] })).toEqual(lab);
    // Loosening is still refused, and what is restated must match.
    expect(refused({ topics: [{ name: "/chatter", minRateHz: 5, maxSilenceSeconds: 4 }] }, lab)).toMatch(
      /maxSilenceSeconds may only fall from 3/,
    );
    expect(refused({ exec: [{ name: "disk", argv: ["/bin/false"] }] }, lab)).toMatch(/argv may not change/);
    expect(refused({ http: [{ name: "api", expectStatus: 200 }] }, lab)).toMatch(
      /expectStatus may not change/,
    );
    expect(refused({ http: [{ name: "api", timeoutSeconds: 5 }] }, lab)).toMatch(/may only fall from 3/);
  });

  it("gives a new check the defaults, and needs argv / url to add an exec / http check", () => {
    const open = compileHealthConfig({ ros: {}, deploy: { allowAdd: ["topic", "exec", "http"] } });
    const s = mergeHealthSpec(open, { topics: [{ name: "/scan", minRateHz: 1 }] });
    expect(s.ros?.topics).toEqual([
      { name: "/scan", minRateHz: 1, maxSilenceSeconds: HEALTH_DEFAULTS.maxSilenceSeconds },
    ]);
    const msg = refused({ exec: [{ name: "e" }], http: [{ name: "h" }] }, open);
    expect(msg).toMatch(/cannot add exec check e: argv is required/);
    expect(msg).toMatch(/cannot add http check h: url is required/);
    expect(() => mergeHealthSpec(open, { exec: [{ name: "e", args: [] }] })).toThrow();
  });

  it("lets a deploy wait longer only up to deploy.maxTotalSeconds", () => {
    expect(refused({ timeoutSeconds: 600 })).toMatch(/exceeds deploy.maxTotalSeconds 305/);
    const roomy = compileHealthConfig({ deploy: { maxTotalSeconds: 900 } });
    expect(mergeHealthSpec(roomy, { settleSeconds: 60, timeoutSeconds: 840 }).timeoutSeconds).toBe(840);
    expect(mergeHealthSpec(base, { timeoutSeconds: 100 }).timeoutSeconds).toBe(100);
    expect(refused({ timeoutSeconds: 10 })).toMatch(/cannot fit/);
  });

  it("refuses dropping a check that does not exist, and unknown keys", () => {
    expect(refused({ drop: ["unit:nope.service"] })).toMatch(/cannot drop unit:nope.service/);
    expect(() => mergeHealthSpec(base, { ros: {} })).toThrow();
  });
});
