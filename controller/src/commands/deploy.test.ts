import { join } from "node:path";
import {
  ActivationAction,
  Compression,
  type PushPathsRequest,
  DeploymentState as S,
} from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { event } from "../testing/fake-agent.js";
import { fakeClosure } from "../testing/fake-closure.js";
import { acceptPush, CLOSURE, IDLE_STATUS, SYSTEM, switchEvents } from "../testing/robot-fixtures.js";

// deploy: the transfer and a successful activation.
// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({ name: "deploy", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

const root = SYSTEM.storePath;
const glibc = CLOSURE[0]?.storePath ?? "";
const nodes = CLOSURE[1]?.storePath ?? "";

describe("deploy", () => {
  it("pushes only the missing paths, references first, then activates: exit 0", async () => {
    rig.agent.handlers.queryMissingPaths = (paths) => paths.filter((p) => p !== glibc);
    rig.agent.handlers.pushPaths = acceptPush;
    rig.agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_ACTIVATED, { generation: 42, previousGeneration: 41, exitCode: 0 }),
        event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, previousGeneration: 41, final: true }),
      ]);
    const closure = fakeClosure(CLOSURE);
    const r = await rig.run(
      ["deploy", root, ...rig.target(), "--json", "--compress", "gzip", "--transfer", "push"],
      { closure },
    );

    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({
      target: "robot1",
      operation: "deploy",
      action: "switch",
      storePath: root,
      deploymentId: "d-test-1",
      outcome: "succeeded",
      exitCode: 0,
      generation: 42,
      previousGeneration: 41,
      error: null,
      push: {
        compression: "gzip",
        pathsTotal: 3,
        pathsMissing: 2,
        bytesMissing: 103 * 1024,
        pathsImported: 2,
        pathsSkipped: 0,
        narBytes: 103 * 1024,
        signed: false,
        transport: "grpc",
      },
    });
    expect((doc.events as { state: string }[]).map((e) => e.state)).toEqual([
      "PENDING",
      "PROFILE_SET",
      "ACTIVATING",
      "ACTIVATED",
      "SUCCEEDED",
    ]);
    expect(doc.reason).toMatch(/active and is the boot default/);

    expect(rig.methods()).toEqual(["getStatus", "queryMissingPaths", "pushPaths", "activate"]);
    expect(rig.agent.calls[1]?.request).toEqual({ storePaths: CLOSURE.map((p) => p.storePath) });
    const pushed = rig.agent.calls[2]?.request as PushPathsRequest[];
    const sent = new Set(pushed.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : [])));
    const pushedNar = CLOSURE.filter((p) => sent.has(p.storePath)).reduce((n, p) => n + p.narSize, 0);
    expect(pushed[0]).toEqual({
      item: {
        $case: "options",
        value: { compression: Compression.COMPRESSION_GZIP, totalNarSize: pushedNar },
      },
    });
    expect(pushed.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []))).toEqual([
      nodes,
      root,
    ]);
    expect(rig.agent.calls[3]?.request).toEqual({
      storePath: root,
      action: ActivationAction.ACTIVATION_ACTION_SWITCH,
      // No deploy flags: every option unset, the agent's defaults apply.
      options: { selfConfirm: false, healthJson: "", label: "" },
      overrideHolds: [],
    });

    // Progress and events are on stderr, as plain lines (not a TTY).
    // 100 %: every chunk was confirmed written by the transport (progress counts the wire).
    expect(r.stderr).toMatch(/^push: 100%/m);
    expect(r.stderr).toContain("robot1: 2 of 3 paths missing (103 KiB uncompressed)");
    // The fake agent is grpc-js's own listener (h2 only): the push falls back, and says so.
    expect(r.stderr).toContain(
      "robot1: pushing over gRPC PushPaths (no raw push channel: the agent does not offer it)",
    );
    expect(r.stderr).toMatch(/robot1: \d\d:\d\d:\d\dZ PROFILE_SET generation 42 \(previous 41\)/);
  });

  it("auto, when the link outruns zstd: the rest uncompressed in the same stream; progress runs on to 100 %", async () => {
    rig.agent.handlers.queryMissingPaths = (paths) => paths;
    const pushes: PushPathsRequest[][] = [];
    rig.agent.handlers.pushPaths = (received) => {
      pushes.push(received);
      return acceptPush(received);
    };
    rig.agent.handlers.activate = () => [
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, final: true }),
    ];
    const closure = fakeClosure(CLOSURE, { autoSwitchesAfter: 1 });
    const r = await rig.run(["deploy", root, ...rig.target(), "--json", "--transfer", "push"], { closure });
    expect(r.code).toBe(0);
    const pathsOf = (ms: PushPathsRequest[]) =>
      ms.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []));
    expect(pushes.map(pathsOf)).toEqual([[glibc, nodes, root]]);
    const total = CLOSURE.reduce((n, p) => n + p.narSize, 0);
    expect(pushes.map((ms) => ms[0])).toEqual([
      {
        item: { $case: "options", value: { compression: Compression.COMPRESSION_ZSTD, totalNarSize: total } },
      },
    ]);
    expect(r.json()).toMatchObject({
      push: { compression: "zstd+none", pathsImported: 3, narBytes: total, wireBytes: total },
    });
    expect(r.stderr).toContain("robot1: compression none: fake: the link outruns zstd");
    expect(r.stderr).toMatch(/^push: 100%.* 3\/3 paths/m);
  });

  it("skips the push when the robot has every path, and signs with --sign-key", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () => [
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, final: true }),
    ];
    const closure = fakeClosure(CLOSURE);
    const r = await rig.run(["deploy", root, ...rig.target(), "--sign-key", "key.sec"], { closure });
    expect(r.code).toBe(0);
    expect(rig.methods()).toEqual(["getStatus", "queryMissingPaths", "activate"]);
    expect(closure.signedWith).toEqual([]); // nothing to push, nothing to sign
    expect(r.stdout).toMatch(/^robot1: deploy succeeded \(generation 42, previous 41\)/);
  });

  it("signs only the missing paths with --sign-key before pushing", async () => {
    rig.agent.handlers.queryMissingPaths = (paths) => paths;
    rig.agent.handlers.pushPaths = (received) => {
      const infos = received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value] : []));
      expect(infos.every((i) => i.signatures.includes("test-key:c2lnbmF0dXJl"))).toBe(true);
      return acceptPush(received);
    };
    rig.agent.handlers.activate = () => [
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, final: true }),
    ];
    const closure = fakeClosure(CLOSURE);
    const r = await rig.run(["deploy", root, ...rig.target(), "--sign-key", "key.sec", "--json"], {
      closure,
    });
    expect(r.code).toBe(0);
    expect(closure.signedWith).toEqual([join(rig.dir, "key.sec")]); // relative to the working directory
    expect(r.json()).toMatchObject({ push: { signed: true, compression: "zstd" } });
  });
});
