import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { status } from "@grpc/grpc-js";
import {
  ActivationAction,
  Compression,
  DeploymentKind,
  type GetStatusResponse,
  type PushPathsRequest,
  DeploymentState as S,
} from "@ros-rollback/proto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectAgent } from "../agent-api.js";
import type { ClosureOps } from "../closure-port.js";
import { InterruptedError } from "../core/errors.js";
import { main } from "../main.js";
import { captureIo } from "../testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "../testing/fake-agent.js";
import { fakeClosure, pathInfo } from "../testing/fake-closure.js";
import { makeTestPki, type TestPki } from "../testing/pki.js";

// Real grpc-js client and server with mutual TLS on 127.0.0.1; only the agent's
// behaviour and the local Nix store are fakes.

let dir: string;
let pki: TestPki;
let agent: FakeAgent;
let inventory: string;

const SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024, []);
const CLOSURE = [
  pathInfo("glibc", 200 * 1024),
  pathInfo("ros-nodes", 100 * 1024),
  { ...SYSTEM, references: ["glibc", "ros-nodes"] },
];

const STATUS: GetStatusResponse = {
  agentVersion: "0.1.0",
  hostname: "robot1",
  currentSystem: "/nix/store/old-system",
  currentGeneration: 41,
  profileSystem: "/nix/store/old-system",
  holds: [],
  deployment: undefined,
  lastDeployment: undefined,
};

function writeInventory(name: string, targets: Record<string, unknown>): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ targets }));
  return file;
}

function robot(overrides: Record<string, unknown> = {}) {
  // Relative paths: resolved against the inventory's directory.
  return {
    address: `127.0.0.1:${agent.port}`,
    caFile: "ca.pem",
    certFile: "client.pem",
    keyFile: "client.key",
    ...overrides,
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

async function cli(
  argv: string[],
  options: { closure?: ClosureOps; signal?: AbortSignal; now?: () => number } = {},
): Promise<Run> {
  const { io, stdout, stderr } = captureIo({ cwd: dir, now: options.now });
  const deps = { connect: connectAgent, closure: options.closure ?? fakeClosure(CLOSURE) };
  const code = await main(argv, io, deps, options.signal ?? new AbortController().signal);
  return {
    code,
    stdout: stdout(),
    stderr: stderr(),
    json: () => JSON.parse(stdout()) as Record<string, unknown>,
  };
}

const target = () => ["--inventory", inventory, "--target", "robot1", "--connect-timeout", "3"];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-controller-"));
  pki = makeTestPki(dir);
  agent = await startFakeAgent(pki);
  inventory = writeInventory("fleet.json", { robot1: robot(), robot2: robot() });
});

afterAll(async () => {
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  agent.handlers = { getStatus: () => STATUS };
  agent.calls.length = 0;
  agent.cancelled.length = 0;
});

afterEach(() => {
  agent.handlers = {};
});

/** A JSON result must be the ONLY thing on stdout. */
function expectOneJsonDocument(r: Run): Record<string, unknown> {
  expect(() => JSON.parse(r.stdout)).not.toThrow();
  return r.json();
}

const methods = () => agent.calls.map((c) => c.method);

const SNAP = {
  path: "/var/lib/db",
  method: "copy",
  location: "/var/lib/ros-rollback/snapshots/d-1/0-db",
  sizeBytes: 2097152,
  state: "restored",
  units: ["db.service"],
  absent: false,
};

describe("status", () => {
  it("prints the agent's status as one JSON document", async () => {
    agent.handlers.getStatus = () => ({
      ...STATUS,
      lastDeployment: {
        id: "d-1",
        state: S.DEPLOYMENT_STATE_SUCCEEDED,
        action: ActivationAction.ACTIVATION_ACTION_SWITCH,
        storePath: "/nix/store/old-system",
        generation: 41,
        previousGeneration: 40,
        previousStorePath: "/nix/store/older",
        startedAtUnixMs: Date.UTC(2026, 0, 2, 3, 4, 5),
        updatedAtUnixMs: Date.UTC(2026, 0, 2, 3, 4, 9),
        message: "ok",
        kind: DeploymentKind.DEPLOYMENT_KIND_ACTIVATE,
        confirmDeadlineUnixMs: 0,
        rollbackReason: 0,
        options: undefined,
        snapshots: [{ ...SNAP, state: "captured" }],
        restores: [SNAP],
        unitChanges: undefined,
        rollbackUnitChanges: undefined,
        overriddenHolds: [],
      },
    });
    const text = await cli(["status", ...target()]);
    expect(text.stdout).toContain(
      "  snapshot:    /var/lib/db copy 2.0 MiB captured at /var/lib/ros-rollback/snapshots/d-1/0-db\n" +
        "  restore:     /var/lib/db copy 2.0 MiB restored at /var/lib/ros-rollback/snapshots/d-1/0-db",
    );
    const r = await cli(["status", ...target(), "--json"]);
    expect(r.code).toBe(0);
    expect(expectOneJsonDocument(r)).toEqual({
      target: "robot1",
      hostname: "robot1",
      agentVersion: "0.1.0",
      currentSystem: "/nix/store/old-system",
      currentGeneration: 41,
      profileSystem: "/nix/store/old-system",
      runningProfileSystem: true,
      deployment: null,
      lastDeployment: {
        id: "d-1",
        kind: "activate",
        state: "SUCCEEDED",
        action: "switch",
        storePath: "/nix/store/old-system",
        generation: 41,
        previousGeneration: 40,
        previousStorePath: "/nix/store/older",
        startedAt: "2026-01-02T03:04:05.000Z",
        updatedAt: "2026-01-02T03:04:09.000Z",
        message: "ok",
        confirmDeadline: null,
        rollbackReason: null,
        label: null,
        overriddenHolds: [],
        snapshots: [{ ...SNAP, state: "captured" }],
        restores: [SNAP],
        unitChanges: null,
        rollbackUnitChanges: null,
      },
      health: null,
      holds: [],
    });
    expect(r.stderr).toBe("");
  });

  it("prints text without --json", async () => {
    const r = await cli(["status", ...target()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("generation:  41");
  });
});

describe("generations", () => {
  it("prints an array of {generation, storePath, current, createdAt}", async () => {
    agent.handlers.listGenerations = () => ({
      generations: [
        { number: 40, storePath: "/nix/store/a", createdAtUnixMs: Date.UTC(2026, 0, 1), current: false },
        { number: 41, storePath: "/nix/store/b", createdAtUnixMs: Date.UTC(2026, 0, 2), current: true },
      ],
    });
    const r = await cli(["generations", ...target(), "--json"]);
    expect(r.code).toBe(0);
    expect(expectOneJsonDocument(r)).toEqual([
      { generation: 40, storePath: "/nix/store/a", current: false, createdAt: "2026-01-01T00:00:00.000Z" },
      { generation: 41, storePath: "/nix/store/b", current: true, createdAt: "2026-01-02T00:00:00.000Z" },
    ]);
  });
});

describe("deploy", () => {
  const root = SYSTEM.storePath;
  const glibc = CLOSURE[0]?.storePath ?? "";
  const nodes = CLOSURE[1]?.storePath ?? "";

  function acceptPush(received: PushPathsRequest[]) {
    const paths = received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []));
    const bytes = received.reduce(
      (s, m) => s + (m.item?.$case === "chunk" ? m.item.value.data.length : 0),
      0,
    );
    return { imported: paths, skipped: [], narBytes: bytes };
  }

  const switchEvents = (last: ReturnType<typeof event>[]) => [
    event(S.DEPLOYMENT_STATE_PENDING, { previousGeneration: 41, message: "switch to …" }),
    event(S.DEPLOYMENT_STATE_PROFILE_SET, { generation: 42, previousGeneration: 41 }),
    event(S.DEPLOYMENT_STATE_ACTIVATING, { generation: 42, previousGeneration: 41 }),
    ...last,
  ];

  it("pushes only the missing paths, references first, then activates: exit 0", async () => {
    agent.handlers.queryMissingPaths = (paths) => paths.filter((p) => p !== glibc);
    agent.handlers.pushPaths = acceptPush;
    agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_ACTIVATED, { generation: 42, previousGeneration: 41, exitCode: 0 }),
        event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, previousGeneration: 41, final: true }),
      ]);
    const closure = fakeClosure(CLOSURE);
    const r = await cli(["deploy", root, ...target(), "--json", "--compress", "gzip", "--transfer", "push"], {
      closure,
    });

    expect(r.code).toBe(0);
    const doc = expectOneJsonDocument(r);
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

    expect(methods()).toEqual(["getStatus", "queryMissingPaths", "pushPaths", "activate"]);
    expect(agent.calls[1]?.request).toEqual({ storePaths: CLOSURE.map((p) => p.storePath) });
    const pushed = agent.calls[2]?.request as PushPathsRequest[];
    expect(pushed[0]).toEqual({
      item: { $case: "options", value: { compression: Compression.COMPRESSION_GZIP } },
    });
    expect(pushed.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []))).toEqual([
      nodes,
      root,
    ]);
    expect(agent.calls[3]?.request).toEqual({
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
    expect(r.stderr).toMatch(/robot1: \d\d:\d\d:\d\dZ PROFILE_SET generation 42 \(previous 41\)/);
  });

  it("auto, when the link outruns zstd: the rest uncompressed in the same stream; progress runs on to 100 %", async () => {
    agent.handlers.queryMissingPaths = (paths) => paths;
    const pushes: PushPathsRequest[][] = [];
    agent.handlers.pushPaths = (received) => {
      pushes.push(received);
      return acceptPush(received);
    };
    agent.handlers.activate = () => [event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, final: true })];
    const closure = fakeClosure(CLOSURE, { autoSwitchesAfter: 1 });
    const r = await cli(["deploy", root, ...target(), "--json", "--transfer", "push"], { closure });
    expect(r.code).toBe(0);
    const pathsOf = (ms: PushPathsRequest[]) =>
      ms.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []));
    expect(pushes.map(pathsOf)).toEqual([[glibc, nodes, root]]);
    expect(pushes.map((ms) => ms[0])).toEqual([
      { item: { $case: "options", value: { compression: Compression.COMPRESSION_ZSTD } } },
    ]);
    const total = CLOSURE.reduce((n, p) => n + p.narSize, 0);
    expect(expectOneJsonDocument(r)).toMatchObject({
      push: { compression: "zstd+none", pathsImported: 3, narBytes: total, wireBytes: total },
    });
    expect(r.stderr).toContain("robot1: compression none: fake: the link outruns zstd");
    expect(r.stderr).toMatch(/^push: 100%.* 3\/3 paths/m);
  });

  it("skips the push when the robot has every path, and signs with --sign-key", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () => [event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, final: true })];
    const closure = fakeClosure(CLOSURE);
    const r = await cli(["deploy", root, ...target(), "--sign-key", "key.sec"], { closure });
    expect(r.code).toBe(0);
    expect(methods()).toEqual(["getStatus", "queryMissingPaths", "activate"]);
    expect(closure.signedWith).toEqual([]); // nothing to push, nothing to sign
    expect(r.stdout).toMatch(/^robot1: deploy succeeded \(generation 42, previous 41\)/);
  });

  it("signs only the missing paths with --sign-key before pushing", async () => {
    agent.handlers.queryMissingPaths = (paths) => paths;
    agent.handlers.pushPaths = (received) => {
      const infos = received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value] : []));
      expect(infos.every((i) => i.signatures.includes("test-key:c2lnbmF0dXJl"))).toBe(true);
      return acceptPush(received);
    };
    agent.handlers.activate = () => [event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, final: true })];
    const closure = fakeClosure(CLOSURE);
    const r = await cli(["deploy", root, ...target(), "--sign-key", "key.sec", "--json"], { closure });
    expect(r.code).toBe(0);
    expect(closure.signedWith).toEqual([join(dir, "key.sec")]); // relative to the working directory
    expect(r.json()).toMatchObject({ push: { signed: true, compression: "zstd" } });
  });

  it("exit 2 when the agent rolled back", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_UNITS_FAILED, { generation: 42, previousGeneration: 41, exitCode: 4 }),
        event(S.DEPLOYMENT_STATE_ROLLING_BACK, { generation: 42, previousGeneration: 41 }),
        event(S.DEPLOYMENT_STATE_ROLLED_BACK, {
          generation: 42,
          previousGeneration: 41,
          final: true,
          message: "rolled back to generation 41",
        }),
      ]);
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(2);
    expect(expectOneJsonDocument(r)).toMatchObject({
      outcome: "rolled-back",
      exitCode: 2,
      generation: 42,
      previousGeneration: 41,
      reason:
        "the deployment failed; the robot is back on the previous generation — rolled back to generation 41",
    });
    expect(r.stderr).toMatch(/UNITS_FAILED generation 42 \(previous 41\) \[exit 4\]/);
    expect(r.stderr).toMatch(/^error: the deployment failed; the robot is back/m);
  });

  it("exit 3 when the deployment failed and was left in place", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_ACTIVATION_FAILED, { exitCode: 1 }),
        event(S.DEPLOYMENT_STATE_FAILED, {
          final: true,
          message: "left as it is: automatic rollback is off",
        }),
      ]);
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ outcome: "uncertain", exitCode: 3 });
    expect(r.json().reason).toMatch(/left in place .* automatic rollback is off/);
  });

  it("exit 3 when the event stream breaks mid-activation", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () =>
      switchEvents([{ error: { code: status.UNAVAILABLE, details: "connection reset" } }]);
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({
      outcome: "uncertain",
      error: { status: "UNAVAILABLE", details: "connection reset" },
    });
    expect(r.json().reason).toMatch(/event stream failed \(UNAVAILABLE\) after ACTIVATING/);
  });

  describe("when the event stream breaks, asks the agent's status for the outcome", () => {
    const deployment = (state: S) => ({
      id: "d-test-1",
      state,
      action: ActivationAction.ACTIVATION_ACTION_SWITCH,
      storePath: root,
      generation: 42,
      previousGeneration: 41,
      previousStorePath: "/nix/store/old-system",
      startedAtUnixMs: 1,
      updatedAtUnixMs: 2,
      message: state === S.DEPLOYMENT_STATE_ROLLED_BACK ? "rolled back to generation 41" : "",
      kind: DeploymentKind.DEPLOYMENT_KIND_ACTIVATE,
      confirmDeadlineUnixMs: 0,
      rollbackReason: 0,
      options: undefined,
      snapshots: [],
      restores: [],
      unitChanges: undefined,
      rollbackUnitChanges: undefined,
      overriddenHolds: [],
    });

    it("exit 2 when the agent's record says ROLLED_BACK", async () => {
      agent.handlers.queryMissingPaths = () => [];
      agent.handlers.activate = () => {
        let polls = 0;
        agent.handlers.getStatus = () => {
          polls++;
          if (polls === 1) return { error: { code: status.UNAVAILABLE, details: "agent restarting" } };
          if (polls < 4) return { ...STATUS, deployment: deployment(S.DEPLOYMENT_STATE_ROLLING_BACK) };
          return { ...STATUS, lastDeployment: deployment(S.DEPLOYMENT_STATE_ROLLED_BACK) };
        };
        return switchEvents([{ error: { code: status.UNAVAILABLE, details: "Connection dropped" } }]);
      };
      const r = await cli(["deploy", root, ...target(), "--json"]);
      expect(r.code).toBe(2);
      expect(r.json()).toMatchObject({
        outcome: "rolled-back",
        error: { status: "UNAVAILABLE", details: "Connection dropped" },
      });
      expect(r.json().reason).toMatch(
        /back on the previous generation — .* — learned from the agent's status after the event stream broke: rolled back to generation 41$/,
      );
      expect(r.stderr).toContain(
        "robot1: lost the event stream (UNAVAILABLE); asking the agent for the outcome of d-test-1",
      );
      expect(r.stderr).toContain("robot1: still no answer: robot1: UNAVAILABLE: agent restarting");
      expect(r.stderr).toContain("robot1: d-test-1 is ROLLING_BACK (agent status)");
      expect(r.stderr).toContain("robot1: d-test-1 ended ROLLED_BACK (agent status)");
    });

    it("exit 0 when the stream ended early but the record says SUCCEEDED", async () => {
      agent.handlers.queryMissingPaths = () => [];
      agent.handlers.activate = () => {
        agent.handlers.getStatus = () => ({
          ...STATUS,
          lastDeployment: deployment(S.DEPLOYMENT_STATE_SUCCEEDED),
        });
        return switchEvents([]);
      };
      const r = await cli(["deploy", root, ...target(), "--json"]);
      expect(r.code).toBe(0);
      expect(r.json().reason).toMatch(/learned from the agent's status after the event stream ended early$/);
    });

    it("a recovered FAILED stays uncertain even if only PENDING was seen (events were missed)", async () => {
      agent.handlers.queryMissingPaths = () => [];
      agent.handlers.activate = () => {
        agent.handlers.getStatus = () => ({
          ...STATUS,
          lastDeployment: deployment(S.DEPLOYMENT_STATE_FAILED),
        });
        return [event(S.DEPLOYMENT_STATE_PENDING), { error: { code: status.UNAVAILABLE, details: "gone" } }];
      };
      const r = await cli(["deploy", root, ...target()]);
      expect(r.code).toBe(3);
    });

    it("exit 3 when the agent never answers within --follow-timeout", async () => {
      agent.handlers.queryMissingPaths = () => [];
      agent.handlers.activate = () => {
        agent.handlers.getStatus = () => ({
          error: { code: status.UNAVAILABLE, details: "no route to host" },
        });
        return switchEvents([{ error: { code: status.UNAVAILABLE, details: "Connection dropped" } }]);
      };
      // Each attempt is a new TLS connection: leave time for one even on a loaded machine.
      const r = await cli(["deploy", root, ...target(), "--json", "--follow-timeout", "1"]);
      expect(r.code).toBe(3);
      expect(r.json().reason).toMatch(
        /— no final state from the agent within 1s \(robot1: UNAVAILABLE: no route to host\)$/,
      );
    });

    it("--follow-timeout 0 does not ask", async () => {
      agent.handlers.queryMissingPaths = () => [];
      agent.handlers.activate = () => switchEvents([{ error: { code: status.UNAVAILABLE, details: "x" } }]);
      const r = await cli(["deploy", root, ...target(), "--follow-timeout", "0"]);
      expect(r.code).toBe(3);
      expect(methods()).toEqual(["getStatus", "queryMissingPaths", "activate"]);
    });
  });

  it("exit 3 when the stream ends without a final event", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () => switchEvents([]);
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(3);
    expect(r.json().reason).toMatch(/without a final event after ACTIVATING/);
  });

  it("exit 4 when a reboot is required", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_REBOOT_REQUIRED, { generation: 42, exitCode: 100, final: true }),
      ]);
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(4);
    expect(r.json()).toMatchObject({ outcome: "reboot-required" });
  });

  it("exit 1 when the agent refuses the activation up front (FAILED_PRECONDITION)", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () => [
      {
        error: {
          code: status.FAILED_PRECONDITION,
          details: "deployment d-0 is still running",
          agentCode: "FAILED_PRECONDITION",
        },
      },
    ];
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      outcome: "unchanged",
      exitCode: 1,
      error: { status: "FAILED_PRECONDITION", details: "deployment d-0 is still running" },
      events: [],
    });
    expect(r.stderr).toMatch(/^error: robot1: FAILED_PRECONDITION: deployment d-0 is still running$/m);
    expect(r.json().reason).toBe(
      "the agent refused the request; nothing changed — robot1: FAILED_PRECONDITION: deployment d-0 is still running",
    );
  });

  it("exit 1 and no activation when the agent refuses untrusted paths; hints at --sign-key", async () => {
    agent.handlers.queryMissingPaths = (paths) => paths;
    agent.handlers.pushPaths = () => ({
      error: {
        code: status.PERMISSION_DENIED,
        details: `${glibc} is not signed by a trusted key`,
        agentCode: "UNTRUSTED",
      },
    });
    const r = await cli(["deploy", root, ...target(), "--json"]);
    expect(r.code).toBe(1);
    expect(methods()).not.toContain("activate");
    const line = `error: robot1: PERMISSION_DENIED: ${glibc} is not signed by a trusted key (sign them with --sign-key FILE, whose public key the agent trusts)`;
    expect(r.stderr).toContain(`${line}\n`);
    expect(r.json()).toMatchObject({
      outcome: "unchanged",
      exitCode: 1,
      previousGeneration: 41,
      error: { status: "PERMISSION_DENIED" },
      push: { pathsMissing: 3, pathsImported: 0 },
    });
  });

  it("exit 1 with one line when the agent is unreachable, within the connect timeout", async () => {
    const port = await freePort();
    const file = writeInventory("down.json", { robot1: robot({ address: `127.0.0.1:${port}` }) });
    const started = Date.now();
    const r = await cli([
      "deploy",
      root,
      "--inventory",
      file,
      "--target",
      "robot1",
      "--connect-timeout",
      "1",
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: robot1: UNAVAILABLE: cannot reach the agent at 127\\.0\\.0\\.1:${port} within 1s: connect ECONNREFUSED [\\d.:]+\\n$`,
      ),
    );
    expect(r.stdout).toMatch(/^robot1: deploy unchanged: robot1: UNAVAILABLE/);
  });

  it("SIGINT during the push: exit 1, nothing activated, the push is cancelled", async () => {
    agent.handlers.queryMissingPaths = (paths) => paths;
    agent.handlers.pushPaths = acceptPush;
    const interrupt = new AbortController();
    let chunks = 0;
    const closure = fakeClosure(CLOSURE, {
      chunkSize: 1024,
      beforeChunk: async () => {
        if (++chunks === 5) interrupt.abort(new InterruptedError());
      },
    });
    const r = await cli(["deploy", root, ...target(), "--json"], { closure, signal: interrupt.signal });
    expect(r.code).toBe(1);
    expect(methods()).not.toContain("activate");
    expect(r.json()).toMatchObject({ outcome: "unchanged", exitCode: 1 });
    expect(r.stderr).toMatch(/^error: interrupted before activation; nothing was changed on robot1/m);
  });

  it("SIGINT while following the activation: exit 3, says the agent carries on", async () => {
    agent.handlers.queryMissingPaths = () => [];
    agent.handlers.activate = () => switchEvents([{ hang: true }]);
    const interrupt = new AbortController();
    const closure = fakeClosure(CLOSURE);
    const running = cli(["deploy", root, ...target(), "--json"], { closure, signal: interrupt.signal });
    await waitFor(() => methods().includes("activate"));
    await new Promise((r) => setTimeout(r, 100));
    interrupt.abort(new InterruptedError());
    const r = await running;
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ outcome: "uncertain", exitCode: 3 });
    expect(r.json().reason).toMatch(/interrupted after ACTIVATING; the agent carries on with the deployment/);
    await waitFor(() => agent.cancelled.includes("activate"));
  });

  it("a bug in a dependency exits 70 with a stack trace", async () => {
    const closure: ClosureOps = {
      ...fakeClosure(CLOSURE),
      computeClosure: async () => {
        throw new TypeError("cannot read properties of undefined");
      },
    };
    const r = await cli(["deploy", root, ...target(), "--json"], { closure });
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/internal error — this is a bug/);
    expect(r.stderr).toMatch(/TypeError: cannot read properties of undefined\n\s+at /);
    expect(r.json()).toEqual({ error: { message: "internal error (bug)", exitCode: 70 } });
  });
});

describe("rollback", () => {
  it("--to N asks for that generation; exit 0 on SUCCEEDED", async () => {
    agent.handlers.rollback = () => [
      event(S.DEPLOYMENT_STATE_PENDING, { generation: 39, previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_PROFILE_SET, { generation: 39, previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_ACTIVATING, { generation: 39, previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_ACTIVATED, { generation: 39, previousGeneration: 41, exitCode: 0 }),
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 39, previousGeneration: 41, final: true }),
    ];
    const r = await cli([
      "rollback",
      "--to",
      "39",
      ...target(),
      "--json",
      "--override-hold",
      "topic:/mission_state",
      "--override-hold",
      "mission",
    ]);
    expect(r.code).toBe(0);
    expect(agent.calls.find((c) => c.method === "rollback")?.request).toEqual({
      generation: 39,
      overrideHolds: ["topic:/mission_state", "mission"],
    });
    expect(r.stderr).toMatch(/^warning: overriding hold\(s\): topic:\/mission_state, mission$/m);
    expect(r.json()).toMatchObject({
      overrideHolds: ["topic:/mission_state", "mission"],
      operation: "rollback",
      outcome: "succeeded",
      generation: 39,
      previousGeneration: 41,
      push: null,
    });
  });

  it("without --to leaves the generation unset (the agent's recorded previous one)", async () => {
    agent.handlers.rollback = () => [event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 40, final: true })];
    const r = await cli(["rollback", ...target()]);
    expect(r.code).toBe(0);
    expect(agent.calls.find((c) => c.method === "rollback")?.request).toEqual({ overrideHolds: [] });
    expect(r.stderr).not.toContain("overriding");
  });

  it("exit 1 when the agent refuses (NOT_FOUND)", async () => {
    agent.handlers.rollback = () => [
      { error: { code: status.NOT_FOUND, details: "generation 7 does not exist (have: 40, 41)" } },
    ];
    const r = await cli(["rollback", "--to", "7", ...target(), "--json"]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ outcome: "unchanged", error: { status: "NOT_FOUND" } });
    expect(r.stderr).toContain("robot1: NOT_FOUND: generation 7 does not exist (have: 40, 41)");
  });

  it("exit 3 when the rollback fails and is left in place", async () => {
    agent.handlers.rollback = () => [
      event(S.DEPLOYMENT_STATE_PENDING),
      event(S.DEPLOYMENT_STATE_PROFILE_SET),
      event(S.DEPLOYMENT_STATE_ACTIVATING),
      event(S.DEPLOYMENT_STATE_ACTIVATION_FAILED, { exitCode: 2 }),
      event(S.DEPLOYMENT_STATE_FAILED, { final: true }),
    ];
    const r = await cli(["rollback", ...target()]);
    expect(r.code).toBe(3);
  });
});

describe("connection and TLS", () => {
  it("fails with exit 1 when the agent's certificate is not signed by the configured CA", async () => {
    const file = writeInventory("wrong-ca.json", { robot1: robot({ caFile: basename(pki.otherCa) }) });
    const r = await cli([
      "status",
      "--inventory",
      file,
      "--target",
      "robot1",
      "--connect-timeout",
      "2",
      "--json",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: robot1: UNAVAILABLE: cannot reach the agent at 127\.0\.0\.1:\d+ within 2s: self-signed certificate in certificate chain\n$/,
    );
    expect(expectOneJsonDocument(r)).toMatchObject({
      error: { exitCode: 1, target: "robot1", status: "UNAVAILABLE" },
    });
    expect(methods()).toEqual([]);
  });

  it("fails when the agent rejects the client certificate (other CA)", async () => {
    const file = writeInventory("rogue.json", {
      robot1: robot({ certFile: basename(pki.otherClientCert), keyFile: basename(pki.otherClientKey) }),
    });
    const r = await cli(["status", "--inventory", file, "--target", "robot1", "--connect-timeout", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: robot1: UNAVAILABLE: /);
    expect(methods()).toEqual([]);
  });

  it("verifies serverName instead of the address when set", async () => {
    const ok = writeInventory("name-ok.json", { robot1: robot({ serverName: "robot1.test" }) });
    expect((await cli(["status", "--inventory", ok, "--target", "robot1"])).code).toBe(0);
    const bad = writeInventory("name-bad.json", { robot1: robot({ serverName: "robot9.test" }) });
    const r = await cli(["status", "--inventory", bad, "--target", "robot1", "--connect-timeout", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: robot1: UNAVAILABLE: .*Host: robot9\.test\. is not in the cert's altnames.*\n$/,
    );
  });

  it("reports a missing TLS file as one line naming it", async () => {
    const file = writeInventory("nokey.json", { robot1: robot({ keyFile: "missing.key" }) });
    const r = await cli(["status", "--inventory", file, "--target", "robot1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: robot1: cannot read keyFile ${join(dir, "missing.key")}: no such file\n`);
  });
});

describe("usage errors", () => {
  it("unknown target: one line listing the known targets, exit 1", async () => {
    const r = await cli(["status", "--inventory", inventory, "--target", "robot7"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: unknown target "robot7" in ${inventory}; known targets: robot1, robot2\n`);
  });

  it("missing --target points at --help; with --json stdout still holds one document", async () => {
    const r = await cli(["deploy", "/nix/store/x", "--inventory", inventory, "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error: --target NAME is required (or set ROS_ROLLBACK_TARGET)\nRun 'ros-rollback deploy --help' for usage.\n",
    );
    expect(expectOneJsonDocument(r)).toEqual({
      error: { message: "--target NAME is required (or set ROS_ROLLBACK_TARGET)", exitCode: 1 },
    });
  });

  it("--help prints help on stdout and exits 0", async () => {
    const r = await cli(["deploy", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: ros-rollback deploy <store-path> [options]");
    expect(r.stderr).toBe("");
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()));
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
