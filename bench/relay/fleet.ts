// The relay bench's fleet (bench/relay/scale.ts): the built relay in its own
// process and N simulated robots (sim-robots.ts) in another, all connected to it.
import { type ChildProcess, fork, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { issueCert, makeCa } from "@ros-rollback/proto/testing";
import { profArgs } from "./cpu.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Fleet {
  readonly n: number;
  readonly dir: string;
  /** The relay's config file (a restart starts it again with the same ports). */
  readonly config: string;
  relay: ChildProcess;
  readonly robots: ChildProcess;
  readonly ports: { robot: number; controller: number; metrics: number };
  /** The controller's TLS files (the simulated agents' CA) and the relay's CA. */
  readonly pki: { caFile: string; clientCert: string; clientKey: string; relayCaFile: string };
  readonly connected: number;
  readonly connectSeconds: number;
  readonly relayRssIdleMB: number;
  /** The relay's robots_connected gauge, undefined while it does not answer. */
  connectedNow(): Promise<number | undefined>;
  startRelay(): ChildProcess;
  stop(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export const rssOf = (pid: number, field: "VmRSS" | "VmHWM") =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) /
  1000;

export async function poll<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts the relay and the N robots and waits (up to 300 s) for all N to be connected. */
export async function startFleet(n: number): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), "rl-scale-"));
  let relay: ChildProcess | undefined;
  let robots: ChildProcess | undefined;
  try {
    makeCa(dir, "relay-ca");
    issueCert(dir, "relay", "relay-ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    robots = fork(fileURLToPath(new URL("./sim-robots.ts", import.meta.url)), [String(n), dir], {
      execArgv: ["--import", "tsx", ...profArgs("robots")],
      env: { ...process.env, NIX_CONFIG: process.env.NIX_CONFIG ?? "build-users-group =" },
    });
    const [agentPki] = (await once(robots, "message")) as [
      { caFile: string; clientCert: string; clientKey: string },
    ];
    const ports = { robot: await freePort(), controller: await freePort(), metrics: await freePort() };
    const config = join(dir, "relay.json");
    writeFileSync(
      config,
      JSON.stringify({
        robotListen: `127.0.0.1:${ports.robot}`,
        controllerListen: `127.0.0.1:${ports.controller}`,
        metricsListen: `127.0.0.1:${ports.metrics}`,
        tls: {
          certFile: join(dir, "relay.pem"),
          keyFile: join(dir, "relay.key"),
          robotCaFile: join(dir, "relay-ca.pem"),
          controllerCaFile: agentPki.caFile,
        },
      }),
    );
    const startRelay = () =>
      spawn(process.execPath, [...profArgs("relay"), join(ROOT, "relay/dist/main.js"), "--config", config], {
        stdio: ["ignore", "ignore", "inherit"],
      });
    const connectedNow = async (): Promise<number | undefined> => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
        return Number(/^ros_rollback_relay_robots_connected (\d+)$/m.exec(text)?.[1]);
      } catch {
        return undefined;
      }
    };
    relay = startRelay();
    await poll(connectedNow, (c) => c === 0, 30_000);
    const relayRssIdleMB = rssOf(relay.pid ?? 0, "VmRSS");
    const t0 = performance.now();
    robots.send({ relayPort: ports.robot });
    const connected = (await poll(connectedNow, (c) => c === n, 300_000)) ?? 0;
    const connectSeconds = (performance.now() - t0) / 1000;
    const sim = robots;
    const fleet: Fleet = {
      n,
      dir,
      config,
      relay,
      robots: sim,
      ports,
      pki: { ...agentPki, relayCaFile: join(dir, "relay-ca.pem") },
      connected,
      connectSeconds,
      relayRssIdleMB,
      connectedNow,
      startRelay,
      // SIGTERM: both exit cleanly, so their CPU profiles (BENCH_RELAY_PROF) are written.
      stop: async () => {
        await Promise.all([stop(fleet.relay), stop(sim)]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return fleet;
  } catch (e) {
    await Promise.all([stop(relay), stop(robots)]);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
