import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Deployment, GetStatusResponse } from "@ros-rollback/proto";
import { issueCert } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { DeployingServer } from "../../agent/src/testing/deploying-server.js";
import { buildBundle } from "../../controller/src/testing/bundled-cli.js";
import type { RunningRelay } from "../../relay/src/index.js";
import { linkFor, makeRelayPki, memoryLog, type RelayPki, relayFor, until } from "./rig.js";

// `deploy --wait-online` and `rollout resume` with robots behind a real relay: two real agent
// servers dial out to it, and the shipped CLI deploys through it. rl-on-a is online throughout;
// rl-on-b's link is started (it "comes online") and stopped by the tests.

const A = "rl-on-a";
const B = "rl-on-b";
const DIRECT = "rl-on-direct";
const agents = { [A]: new DeployingServer(), [B]: new DeployingServer() };
/** Each robot's current link (a stopped link stays stopped: coming online again is a new one). */
const links = new Map<string, RelayLink>();
const robotCerts = new Map<string, { cert: string; key: string }>();
let dir: string;
let bundle: string;
let pki: RelayPki;
let relay: RunningRelay;
let inventory: string;
let system: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-online-"));
  bundle = buildBundle("rl-online-bundle-");
  await Promise.all(Object.values(agents).map((a) => a.start()));
  system = agents[A].systemPath;
  agents[B].knowSystem(system);
  pki = makeRelayPki(dir);
  relay = await relayFor(
    pki,
    Object.values(agents).map((a) => a.pki.caFile),
    memoryLog(),
  );
  const targets: Record<string, unknown> = {};
  for (const [name, agent] of Object.entries(agents)) {
    const cert = issueCert(dir, name, "relay-ca", "extendedKeyUsage=clientAuth\n");
    robotCerts.set(name, cert);
    targets[name] = {
      relay: `127.0.0.1:${relay.controllerPort}`,
      relayCaFile: pki.relayCa,
      caFile: agent.pki.caFile,
      certFile: agent.pki.clientCert,
      keyFile: agent.pki.clientKey,
      serverName: "localhost",
    };
  }
  // A robot addressed directly, whose port nothing listens on (connection refused).
  const closed = createServer().listen(0, "127.0.0.1");
  await once(closed, "listening");
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  targets[DIRECT] = {
    address: `127.0.0.1:${port}`,
    caFile: agents[A].pki.caFile,
    certFile: agents[A].pki.clientCert,
    keyFile: agents[A].pki.clientKey,
    serverName: "localhost",
  };
  inventory = join(dir, "fleet.json");
  writeFileSync(inventory, JSON.stringify({ targets }));
  await online(A);
}, 120_000);

afterAll(async () => {
  for (const l of links.values()) l.stop();
  await relay?.close();
  await Promise.all(Object.values(agents).map((a) => a.close()));
  rmSync(dir, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
});

async function online(name: string): Promise<void> {
  const agent = agents[name as keyof typeof agents];
  const l = linkFor(pki, agent, relay.robotPort, robotCerts.get(name));
  links.set(name, l);
  l.start();
  await until(() => relay.registry.state(name).connected, 5_000, `${name} to connect`);
}

/** The robot comes online `ms` from now; the promise is awaited before the test takes it offline again. */
let coming: Promise<void> = Promise.resolve();
function onlineIn(name: string, ms: number): void {
  coming = new Promise((r) => setTimeout(r, ms)).then(() => online(name));
}

async function offline(name: string): Promise<void> {
  await coming;
  links.get(name)?.stop();
  await until(() => !relay.registry.state(name).connected, 5_000, `${name} to disconnect`);
}

function status(name: string): Promise<GetStatusResponse> {
  const client = agents[name as keyof typeof agents].client();
  return new Promise((resolve, reject) =>
    client.getStatus({}, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

/** The robot's current or last deployment of rollout `id`, if it has one. */
async function deploymentOf(name: string, id: string): Promise<Deployment | undefined> {
  const s = await status(name);
  return [s.deployment, s.lastDeployment].find((d) => d?.options?.label.startsWith(`rollout=${id};`));
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The bundled CLI; `onLine` sees each stderr line as it comes. */
function cli(args: readonly string[], onLine: (line: string) => void = () => undefined): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(bundle, "out", "cli.js"), "--inventory", inventory, "--connect-timeout", "2", ...args],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ROS_ROLLBACK_CODE_CACHE: "off", NIX_CONFIG: "build-users-group =" },
      },
    );
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) onLine(l);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface RobotJson {
  target: string;
  outcome: string;
  reason: string;
  report: { deploymentId: string | null } | null;
  online: { waitedSeconds: number; reachedAt: string | null } | null;
}

function robots(r: Run): Record<string, RobotJson> {
  const doc = JSON.parse(r.stdout) as { robots: RobotJson[] };
  return Object.fromEntries(doc.robots.map((x) => [x.target, x]));
}

const rolloutId = (r: Run) => (JSON.parse(r.stdout) as { rolloutId: string }).rolloutId;
const WINDOW_OPENS = /rollout r-\S+: waiting up to .* for offline robots to come online: rl-on-b$/;

describe("rollouts with robots that are offline", () => {
  it("a robot that connects 2 s into the window is deployed: exit 0, its wait reported", async () => {
    let opened = 0;
    const r = await cli(
      ["deploy", system, "--target", A, "--target", B, "--wait-online", "30", "--json"],
      (line) => {
        if (!WINDOW_OPENS.test(line)) return;
        opened = Date.now();
        onlineIn(B, 2_000);
      },
    );
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(opened).toBeGreaterThan(0);
      const x = robots(r);
      expect(x[A]).toMatchObject({ outcome: "succeeded", online: null });
      expect(x[B]).toMatchObject({ outcome: "succeeded", online: { reachedAt: expect.any(String) } });
      expect(x[B]?.online?.waitedSeconds).toBeGreaterThanOrEqual(2);
      expect(Date.parse(x[B]?.online?.reachedAt ?? "")).toBeGreaterThanOrEqual(opened + 1_900);
      expect(r.stderr).toMatch(/rl-on-b: offline, waiting to come online: .*not connected to the relay/);
      // Said when it is reached, before its deployment.
      const came = r.stderr.search(/rl-on-b: came online after \d/);
      expect(came).toBeGreaterThan(0);
      expect(came).toBeLessThan(r.stderr.indexOf("rl-on-b: activating"));
      // Said once at its wave, not once per attempt.
      expect(r.stderr.match(/not connected to the relay/g)).toHaveLength(1);
      expect(await deploymentOf(B, rolloutId(r))).toBeDefined();
    } finally {
      await offline(B);
    }
  }, 60_000);

  it("one that never connects ends missing (exit 6); `rollout resume` once it is online deploys only it", async () => {
    const r = await cli(["deploy", system, "--target", A, "--target", B, "--wait-online", "1", "--json"]);
    expect(r.code, r.stderr).toBe(6);
    const id = rolloutId(r);
    const x = robots(r);
    expect(x[A]).toMatchObject({ outcome: "succeeded", online: null });
    expect(x[B]).toMatchObject({ outcome: "skipped", online: { reachedAt: null } });
    expect(x[B]?.reason).toMatch(/^offline: not reached within --wait-online 1: rl-on-b: UNAVAILABLE: /);
    expect(JSON.parse(r.stdout)).toMatchObject({
      outcome: "partial",
      reason: expect.stringMatching(/1 offline/),
    });
    expect(await deploymentOf(B, id)).toBeUndefined();
    const onA = await deploymentOf(A, id);
    expect(onA).toBeDefined();

    await online(B);
    try {
      const resumed = await cli(["rollout", "resume", id, "--target", A, "--target", B, "--json"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const y = robots(resumed);
      // A keeps its result (read from the robot, not run again); B is deployed.
      expect(y[A]).toMatchObject({ outcome: "succeeded", report: null });
      expect(y[B]).toMatchObject({ outcome: "succeeded", report: { deploymentId: expect.any(String) } });
      expect((await deploymentOf(A, id))?.id).toBe(onA?.id);
      const onB = await deploymentOf(B, id);
      expect(onB?.id).toBe(y[B]?.report?.deploymentId);

      // Offline when the rollout is rebuilt, online in the window: it already ran it, so it is followed, not redeployed.
      await offline(B);
      const rebuiltWithout = await cli(
        ["rollout", "resume", id, "--target", A, "--target", B, "--wait-online", "20", "--json"],
        (line) => {
          if (WINDOW_OPENS.test(line)) onlineIn(B, 1_000);
        },
      );
      expect(rebuiltWithout.code, rebuiltWithout.stderr).toBe(0);
      expect((await deploymentOf(B, id))?.id).toBe(onB?.id);
      expect(rebuiltWithout.stderr).toMatch(
        /rl-on-b: already has rollout r-\S+'s deployment d-\S+ \(SUCCEEDED\): following it, not deploying again/,
      );
      expect(robots(rebuiltWithout)[B]).toMatchObject({ outcome: "succeeded" });

      await coming;
      const again = await cli(["rollout", "resume", id, "--target", A, "--target", B]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(
        /rollout r-\S+: already finished: every one of the 2 selected robots has its result; nothing to resume/,
      );
      expect((await deploymentOf(B, id))?.id).toBe(onB?.id);
      expect((await deploymentOf(A, id))?.id).toBe(onA?.id);
    } finally {
      await offline(B);
    }
  }, 90_000);

  it("a direct robot that cannot be reached waits too, and ends skipped (offline)", async () => {
    const r = await cli([
      "deploy",
      system,
      "--target",
      DIRECT,
      "--target",
      A,
      "--wait-online",
      "1",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(
      /rl-on-direct: offline, waiting to come online: rl-on-direct: UNAVAILABLE: cannot reach/,
    );
    expect(robots(r)[DIRECT]).toMatchObject({ outcome: "skipped", online: { reachedAt: null } });
    expect(robots(r)[A]).toMatchObject({ outcome: "succeeded" });
  }, 60_000);

  it("the abort threshold counts only robots that ran: an offline canary with --strict aborts nothing", async () => {
    const r = await cli(
      [
        "deploy",
        system,
        "--target",
        B,
        "--target",
        A,
        "--canary",
        "1",
        "--strict",
        "--wait-online",
        "20",
        "--json",
      ],
      (line) => {
        if (WINDOW_OPENS.test(line)) onlineIn(B, 1_000);
      },
    );
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/ABORTED/);
      const x = robots(r);
      expect(x[A]).toMatchObject({ outcome: "succeeded", online: null });
      expect(x[B]).toMatchObject({ outcome: "succeeded", online: { reachedAt: expect.any(String) } });
    } finally {
      await offline(B);
    }
  }, 60_000);

  it("a robot that connects as the window closes is either deployed or reported missing, never both", async () => {
    // Around the close of a 1 s window: before it, at it, after it.
    for (const offset of [-150, 0, 150]) {
      const r = await cli(
        ["deploy", system, "--target", A, "--target", B, "--wait-online", "1", "--json"],
        (line) => {
          if (WINDOW_OPENS.test(line)) onlineIn(B, 1_000 + offset);
        },
      );
      try {
        const b = robots(r)[B];
        const deployed = (await deploymentOf(B, rolloutId(r))) !== undefined;
        expect([0, 6], r.stderr).toContain(r.code);
        if (b?.outcome === "succeeded") {
          // Deployed, and nowhere reported missing.
          expect(deployed).toBe(true);
          expect(r.code).toBe(0);
          expect(b.online?.reachedAt).toEqual(expect.any(String));
          expect(b.reason).not.toMatch(/offline|not reached/);
          expect(r.stderr).not.toMatch(/rl-on-b: skipped/);
        } else {
          expect(b).toMatchObject({ outcome: "skipped", online: { reachedAt: null } });
          expect(deployed).toBe(false);
          expect(r.code).toBe(6);
          expect(r.stderr).not.toMatch(/rl-on-b: came online/);
        }
      } finally {
        await offline(B);
      }
    }
  }, 120_000);

  it("a bad --wait-online is one line, exit 1, and nothing is contacted", async () => {
    const streams = relay.metrics.streamsTotal;
    // Every bound is unit-tested (online.test.ts); here: the shipped CLI, one line, nothing contacted.
    for (const bad of ["0", "86401"]) {
      const r = await cli(["deploy", system, "--target", A, "--target", B, `--wait-online=${bad}`]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")[0]).toBe(
        `error: --wait-online: expected whole seconds from 1 to 86400, got "${bad}"`,
      );
    }
    const one = await cli(["deploy", system, "--target", A, "--wait-online", "5"]);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/--wait-online: only with several targets/);
    expect(relay.metrics.streamsTotal).toBe(streams);
  }, 60_000);
});
