// One relay (the built relay/dist/main.js, its own process) with N simulated robots: N real agent
// RelayLinks in a second process, each with its own certificate (bench/relay/certs.ts), all serving
// their streams with ONE real agent gRPC server (agent/src/testing's DeployingServer: real Deployer,
// real Nix profile), so every Status goes controller → relay → tunnel → agent with mutual TLS end
// to end. Measures the relay's RSS, `ros-rollback status --all` of the N (the bundled CLI), and the
// robots' reconnect after the relay restarts.
import { type ChildProcess, fork, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { issueCert, makeCa } from "@ros-rollback/proto/testing";
import { dialThroughRelay, type RelayEndpoint } from "../../controller/src/relay/dial.js";
import { forEachTarget } from "../../controller/src/targets/pool.js";
import { profArgs } from "./cpu.js";
import { type RestartResult, restartRelay } from "./restart.js";
import { type StatusAllRun, statusAll, VARIANTS } from "./status-all.js";

/** Restarts measured: the lateness spreads with the load. */
const RESTARTS = 2;

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ScaleResult {
  robots: number;
  connected: number;
  connectSeconds: number;
  relayRssIdleMB: number;
  relayRssConnectedMB: number;
  perRobotKB: number;
  relayPeakRssMB: number;
  /** status --all, each variant (status-all.ts) twice, alternating. */
  statusAll: StatusAllRun[];
  /** Relay streams alone: controller dial → relay → robot opens its stream → ok, N of them. */
  streams: { parallel: number; seconds: number; opened: number }[];
  restarts: RestartResult[];
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

const rssOf = (pid: number, field: "VmRSS" | "VmHWM") =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) /
  1000;

async function connectedAt(metricsPort: number): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return Number(/^ros_rollback_relay_robots_connected (\d+)$/m.exec(text)?.[1]);
  } catch {
    return undefined;
  }
}

async function poll<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startRelay(config: string): ChildProcess {
  return spawn(
    process.execPath,
    [...profArgs("relay"), join(ROOT, "relay/dist/main.js"), "--config", config],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function measureScale(n: number, log: (s: string) => void): Promise<ScaleResult> {
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
    const [pki] = (await once(robots, "message")) as [
      { caFile: string; clientCert: string; clientKey: string },
    ];
    const [robotPort, controllerPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, "relay.json");
    writeFileSync(
      config,
      JSON.stringify({
        robotListen: `127.0.0.1:${robotPort}`,
        controllerListen: `127.0.0.1:${controllerPort}`,
        metricsListen: `127.0.0.1:${metricsPort}`,
        tls: {
          certFile: join(dir, "relay.pem"),
          keyFile: join(dir, "relay.key"),
          robotCaFile: join(dir, "relay-ca.pem"),
          controllerCaFile: pki.caFile,
        },
      }),
    );
    relay = startRelay(config);
    await poll(
      () => connectedAt(metricsPort),
      (c) => c === 0,
      30_000,
    );
    let pid = relay.pid ?? 0;
    const rssIdle = rssOf(pid, "VmRSS");
    const t0 = performance.now();
    robots.send({ relayPort: robotPort });
    const connected =
      (await poll(
        () => connectedAt(metricsPort),
        (c) => c === n,
        300_000,
      )) ?? 0;
    const connectSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2_000)); // settle: buffers of the last handshakes freed
    const rssConnected = rssOf(pid, "VmRSS");
    log(
      `relay scale: ${connected}/${n} connected in ${connectSeconds.toFixed(1)} s, relay RSS ${rssIdle.toFixed(1)} → ${rssConnected.toFixed(1)} MB`,
    );
    // Restarts (before the streams: measured on idle links).
    const restarts: RestartResult[] = [];
    for (let k = 0; k < RESTARTS; k++) {
      const r = await restartRelay({
        relay,
        start: () => startRelay(config),
        robots,
        n,
        connected: () => connectedAt(metricsPort),
        poll,
      });
      relay = r.relay;
      pid = relay.pid ?? 0;
      restarts.push(r.result);
      const { late } = r.result;
      log(
        `relay scale: restarted (down ${r.result.downSeconds.toFixed(1)} s), ${r.result.reconnected}/${n} back in ${r.result.reconnectSeconds.toFixed(1)} s; late after the scheduled attempt p50 ${late.p50} ms, p95 ${late.p95} ms, max ${late.max} ms (${late.robots} robots); load ${loadavg()[0]?.toFixed(2)}`,
      );
    }

    const inventory = join(dir, "fleet.json");
    const targets = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        `rl-sim-${i}`,
        {
          relay: `127.0.0.1:${controllerPort}`,
          relayCaFile: join(dir, "relay-ca.pem"),
          caFile: pki.caFile,
          certFile: pki.clientCert,
          keyFile: pki.clientKey,
          serverName: "localhost",
        },
      ]),
    );
    writeFileSync(inventory, JSON.stringify({ targets }));
    // status-all.ts's VARIANTS alternating, twice: the load drifts.
    const runs: StatusAllRun[] = [];
    for (const variant of [...VARIANTS, ...VARIANTS]) {
      const { stderr, ...r } = await statusAll(
        ROOT,
        inventory,
        { relay: pid, robots: robots.pid ?? 0 },
        variant,
      );
      runs.push(r);
      log(
        `relay scale: status --all of ${n}, ${variant.label}: ${r.seconds.toFixed(1)} s, exit ${r.exitCode}, ${r.answered} answered; CPU s: relay ${r.cpu.relay.toFixed(1)}, robots ${r.cpu.robots.toFixed(1)}, CLI ${r.cpu.cli?.toFixed(1)}; load ${loadavg()[0]?.toFixed(2)}${r.exitCode !== 0 && stderr ? `; stderr: ${stderr.split("\n")[0]}` : ""}`,
      );
    }
    // The relay's own part of each: a stream opened through it (the robot's TLS to the relay
    // included), without the agent's mutual TLS and Status inside; 8 at once is the CLI's pool.
    const endpoint: RelayEndpoint = {
      address: `127.0.0.1:${controllerPort}`,
      ca: readFileSync(join(dir, "relay-ca.pem")),
      cert: readFileSync(pki.clientCert),
      key: readFileSync(pki.clientKey),
    };
    const streams: ScaleResult["streams"] = [];
    for (const parallel of [8, 64]) {
      const t = performance.now();
      const ok = await forEachTarget(
        Array.from({ length: n }, (_, i) => `rl-sim-${i}`),
        parallel,
        (robot) =>
          dialThroughRelay(endpoint, robot, 30_000).then(
            (s) => {
              s.destroy();
              return 1;
            },
            () => 0,
          ),
      );
      const opened = ok.reduce<number>((a, b) => a + b, 0);
      streams.push({ parallel, seconds: (performance.now() - t) / 1000, opened });
      log(
        `relay scale: ${opened} streams opened, ${parallel} at once: ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const peak = rssOf(pid, "VmHWM");

    return {
      robots: n,
      connected,
      connectSeconds,
      relayRssIdleMB: rssIdle,
      relayRssConnectedMB: rssConnected,
      perRobotKB: ((rssConnected - rssIdle) * 1000) / Math.max(1, connected),
      relayPeakRssMB: peak,
      statusAll: runs,
      streams,
      restarts,
    };
  } finally {
    // SIGTERM: both exit cleanly, so their CPU profiles (BENCH_RELAY_PROF) are written.
    await Promise.all([stop(relay), stop(robots)]);
    rmSync(dir, { recursive: true, force: true });
  }
}
