// Roles from client certificates over real mutual TLS (issue 29): the real server, the real
// deployer (fake switch), real holds, both push transports. Refused calls change nothing.
// Who is named, and identities that get nothing: access-identity.test.ts.
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { ActivationAction, AgentService } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METHOD_ROLE } from "../access/rpc-roles.js";
import { readAudit } from "../audit/file.js";
import {
  type AccessRig,
  activateReq,
  pushPaths,
  startAccessRig,
  stream,
  unary,
} from "./testing/access-rig.js";

let rig: AccessRig;
beforeAll(async () => {
  rig = await startAccessRig();
}, 60_000);
afterAll(async () => {
  await rig?.close();
});

describe("the table of roles", () => {
  it("names every method of the Agent service", () => {
    const methods = Object.values(AgentService).map((m) => m.path.split("/").pop());
    expect(methods.length).toBeGreaterThan(10);
    for (const m of methods) expect(Object.hasOwn(METHOD_ROLE, m ?? "")).toBe(true);
    expect(Object.keys(METHOD_ROLE).sort()).toEqual([...methods].sort());
  });
});

describe("a read-only certificate", () => {
  it("reads: status, generations, holds, health, watch", async () => {
    const c = rig.as("reader");
    expect(await unary(c.getStatus.bind(c), {})).toBeUndefined();
    expect(await unary(c.listGenerations.bind(c), {})).toBeUndefined();
    expect(await unary(c.listHolds.bind(c), {})).toBeUndefined();
    expect(await unary(c.checkHealth.bind(c), {})).toBeUndefined();
    expect(await stream(c.watch({}))).toBeUndefined();
    c.close();
  });

  it("is refused deploy, rollback, confirm, hold, release, substitute and both pushes: PERMISSION_DENIED, nothing changed", async () => {
    const c = rig.as("reader");
    const before = rig.deployer.latest();
    rig.denials.length = 0;
    const errors = [
      await stream(c.activate(activateReq(rig))),
      await stream(c.rollback({ generation: 1, overrideHolds: [] })),
      await unary(c.confirm.bind(c), { deploymentId: before?.id ?? "x" }),
      await unary(c.hold.bind(c), { name: "mine", reason: "r" }),
      await unary(c.release.bind(c), { name: "mine" }),
      await stream(c.substitute({ storePaths: [rig.systemPath] })),
      await pushPaths(c),
    ];
    for (const e of errors) {
      expect(e?.code).toBe(status.PERMISSION_DENIED);
      expect(e?.details).toMatch(
        /^permission denied to CN=reader, O=fleet \[sha256 [0-9A-F:]{23}…\]: it lacks role "(deploy|hold)" needed for \w+$/,
      );
      expect(e?.metadata.get("ros-rollback-error-code")[0]).toBe("PERMISSION_DENIED");
    }
    const raw = await rig.rawPush("reader");
    expect(raw?.code).toBe(status.PERMISSION_DENIED);
    expect(raw?.details).toMatch(/CN=reader, O=fleet .*lacks role "deploy" needed for PushPaths$/);
    expect(rig.pushesReached).toBe(0);
    expect(rig.deployer.latest()).toBe(before);
    expect(await rig.holdStore.list()).toEqual([]);
    expect(rig.denials.map((d) => `${d.rpc}/${d.role}`)).toEqual([
      "Activate/deploy",
      "Rollback/deploy",
      "Confirm/deploy",
      "Hold/hold",
      "Release/hold",
      "Substitute/deploy",
      "PushPaths/deploy",
      "PushPaths/deploy",
    ]);
    expect(rig.counted.slice(-8)).toEqual(rig.denials.map((d) => `${d.rpc}/${d.role}`));
    const audit = (await readAudit(join(rig.tmp, "audit"))).entries.slice(-8);
    expect(audit.map((e) => `${e.rpc}/${e.admission}/${e.role}/${e.outcome}`)).toEqual([
      "Activate/denied/deploy/PermissionDenied",
      "Rollback/denied/deploy/PermissionDenied",
      "Confirm/denied/deploy/PermissionDenied",
      "Hold/denied/hold/PermissionDenied",
      "Release/denied/hold/PermissionDenied",
      "Substitute/denied/deploy/PermissionDenied",
      "PushPaths/denied/deploy/PermissionDenied",
      "PushPaths (raw)/denied/deploy/PermissionDenied",
    ]);
    for (const e of audit) {
      expect(e.identity).toEqual({
        subject: expect.stringMatching(/^CN=reader, O=fleet \[sha256 /),
        fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      });
      expect(e.peer).toMatch(/127\.0\.0\.1:\d+$/);
    }
    c.close();
  });
});

describe("deploy and hold", () => {
  it("a deploy-only certificate deploys, but overriding a hold needs hold too", async () => {
    const c = rig.as("ci");
    await rig.holdStore.set("mission", "busy", undefined);
    try {
      const before = rig.deployer.latest();
      const e = await stream(c.activate(activateReq(rig, ["mission"])));
      expect(e?.code).toBe(status.PERMISSION_DENIED);
      expect(e?.details).toMatch(/URI=spiffe:\/\/fleet\/ci .*lacks role "hold" needed for Activate$/);
      expect(rig.deployer.latest()).toBe(before);
      const r = await stream(c.rollback({ generation: 1, overrideHolds: ["mission"] }));
      expect(r?.details).toMatch(/lacks role "hold" needed for Rollback$/);
    } finally {
      await rig.holdStore.release("mission");
    }
    expect(await stream(c.activate(activateReq(rig)))).toBeUndefined();
    expect(rig.deployer.latest()?.storePath).toBe(rig.systemPath);
    const audit = (await readAudit(join(rig.tmp, "audit"))).entries.slice(-4);
    expect(audit.map((e) => `${e.rpc}/${e.admission}/${e.role ?? ""}/${e.outcome ?? ""}`)).toEqual([
      "Activate/denied/hold/PermissionDenied",
      "Rollback/denied/hold/PermissionDenied",
      "Activate/allowed//",
      "Activate/allowed//OK",
    ]);
    expect(audit[0]?.args).toMatchObject({
      storePath: rig.systemPath,
      overrideHolds: { count: 1, first: ["mission"] },
    });
    expect(audit[2]?.args).toMatchObject({
      storePath: rig.systemPath,
      action: ActivationAction.ACTIVATION_ACTION_TEST,
    });
    expect(audit[2]?.identity).toMatchObject({
      subject: expect.stringMatching(/^CN=ci, URI=spiffe:\/\/fleet\/ci /),
    });
    c.close();
  });
});
