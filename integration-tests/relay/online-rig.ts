// The set-up of the --wait-online tests: two real agent servers (rl-on-a, rl-on-b) that dial out
// to a real relay, a robot addressed directly whose port nothing listens on (rl-on-direct), an
// inventory naming all three, and the shipped CLI (bundled) run against it.
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Deployment, GetStatusResponse } from "@ros-rollback/proto";
import { issueCert } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll } from "vitest";
import type { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { DeployingServer } from "../../agent/src/testing/deploying-server.js";
import { buildBundle } from "../../controller/src/testing/bundled-cli.js";
import { spawnCli } from "../../controller/src/testing/cli-process.js";
import type { RunningRelay } from "../../relay/src/index.js";
import { linkFor, makeRelayPki, memoryLog, type RelayPki, relayFor, until } from "./rig.js";

export const A = "rl-on-a";
export const B = "rl-on-b";
export const DIRECT = "rl-on-direct";

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RobotJson {
  target: string;
  outcome: string;
  reason: string;
  report: { deploymentId: string | null } | null;
  online: { waitedSeconds: number; reachedAt: string | null } | null;
}

export function robots(r: Run): Record<string, RobotJson> {
  const doc = JSON.parse(r.stdout) as { robots: RobotJson[] };
  return Object.fromEntries(doc.robots.map((x) => [x.target, x]));
}

export const rolloutId = (r: Run) => (JSON.parse(r.stdout) as { rolloutId: string }).rolloutId;

export const WINDOW_OPENS = /rollout r-\S+: waiting up to .* for offline robots to come online: rl-on-b$/;

/** Starts it all before the file's tests (rl-on-a online) and stops it after. */
export function useOnlineRig() {
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

  /** The bundled CLI; `onLine` sees each stderr line as it comes. */
  async function cli(
    args: readonly string[],
    onLine: (line: string) => void = () => undefined,
  ): Promise<Run> {
    const { code, stdout, stderr } = await spawnCli(
      join(bundle, "out", "cli.js"),
      ["--inventory", inventory, "--connect-timeout", "2", ...args],
      {
        killAfterMs: 60_000,
        env: { ...process.env, ROS_ROLLBACK_CODE_CACHE: "off", NIX_CONFIG: "build-users-group =" },
        onStderrLine: onLine,
      },
    ).done;
    return { code, stdout, stderr };
  }

  return {
    online,
    onlineIn,
    offline,
    deploymentOf,
    cli,
    /** The system both agents know (rl-on-a's). */
    get system() {
      return system;
    },
    get relay() {
      return relay;
    },
    /** The robot onlineIn brings online, once it is. */
    get coming() {
      return coming;
    },
  };
}
