// One relay (the built relay/dist/main.js, its own process) with N simulated robots: N real agent
// RelayLinks in a second process, each with its own certificate (bench/relay/certs.ts), all serving
// their streams with ONE real agent gRPC server (agent/src/testing's DeployingServer: real Deployer,
// real Nix profile), so every Status goes controller → relay → tunnel → agent with mutual TLS end
// to end (fleet.ts). Measures the relay's RSS, `ros-rollback status --all` of the N (the bundled
// CLI), the relay's streams alone (streams.ts) and the robots' reconnect after the relay restarts.
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Fleet, poll, rssOf, startFleet } from "./fleet.js";
import { type RestartResult, restartRelay } from "./restart.js";
import { type StatusAllRun, statusAll, VARIANTS } from "./status-all.js";
import { openStreams, type StreamsRun } from "./streams.js";

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
  /** Relay streams alone (streams.ts), N of them. */
  streams: StreamsRun[];
  restarts: RestartResult[];
}

/** An inventory of the fleet's N robots, each through the relay (as an operator's would say it). */
function writeInventory(fleet: Fleet): string {
  const inventory = join(fleet.dir, "fleet.json");
  const targets = Object.fromEntries(
    Array.from({ length: fleet.n }, (_, i) => [
      `rl-sim-${i}`,
      {
        relay: `127.0.0.1:${fleet.ports.controller}`,
        relayCaFile: fleet.pki.relayCaFile,
        caFile: fleet.pki.caFile,
        certFile: fleet.pki.clientCert,
        keyFile: fleet.pki.clientKey,
        serverName: "localhost",
      },
    ]),
  );
  writeFileSync(inventory, JSON.stringify({ targets }));
  return inventory;
}

export async function measureScale(n: number, log: (s: string) => void): Promise<ScaleResult> {
  const fleet = await startFleet(n);
  try {
    const { connected, connectSeconds, relayRssIdleMB: rssIdle } = fleet;
    await new Promise((r) => setTimeout(r, 2_000)); // settle: buffers of the last handshakes freed
    const rssConnected = rssOf(fleet.relay.pid ?? 0, "VmRSS");
    log(
      `relay scale: ${connected}/${n} connected in ${connectSeconds.toFixed(1)} s, relay RSS ${rssIdle.toFixed(1)} → ${rssConnected.toFixed(1)} MB`,
    );
    // Restarts (before the streams: measured on idle links).
    const restarts: RestartResult[] = [];
    for (let k = 0; k < RESTARTS; k++) {
      const r = await restartRelay({
        relay: fleet.relay,
        start: fleet.startRelay,
        robots: fleet.robots,
        n,
        connected: fleet.connectedNow,
        poll,
      });
      fleet.relay = r.relay;
      restarts.push(r.result);
      const { late } = r.result;
      log(
        `relay scale: restarted (down ${r.result.downSeconds.toFixed(1)} s), ${r.result.reconnected}/${n} back in ${r.result.reconnectSeconds.toFixed(1)} s; late after the scheduled attempt p50 ${late.p50} ms, p95 ${late.p95} ms, max ${late.max} ms (${late.robots} robots); load ${loadavg()[0]?.toFixed(2)}`,
      );
    }
    const pids = { relay: fleet.relay.pid ?? 0, robots: fleet.robots.pid ?? 0 };

    const inventory = writeInventory(fleet);
    // status-all.ts's VARIANTS alternating, twice: the load drifts.
    const runs: StatusAllRun[] = [];
    for (const variant of [...VARIANTS, ...VARIANTS]) {
      const { stderr, ...r } = await statusAll(ROOT, inventory, pids, variant);
      runs.push(r);
      log(
        `relay scale: status --all of ${n}, ${variant.label}: ${r.seconds.toFixed(1)} s, exit ${r.exitCode}, ${r.answered} answered; CPU s: relay ${r.cpu.relay.toFixed(1)}, robots ${r.cpu.robots.toFixed(1)}, CLI ${r.cpu.cli?.toFixed(1)}; load ${loadavg()[0]?.toFixed(2)}${r.exitCode !== 0 && stderr ? `; stderr: ${stderr.split("\n")[0]}` : ""}`,
      );
    }
    // The relay's own part of each: 8 at once is the CLI's pool.
    const relayAt = {
      address: `127.0.0.1:${fleet.ports.controller}`,
      caFile: fleet.pki.relayCaFile,
      certFile: fleet.pki.clientCert,
      keyFile: fleet.pki.clientKey,
    };
    const names = Array.from({ length: n }, (_, i) => `rl-sim-${i}`);
    const streams: StreamsRun[] = [];
    for (const parallel of [8, 64]) {
      const s = await openStreams(relayAt, names, parallel, pids);
      streams.push(s);
      log(
        `relay scale: ${s.opened} streams opened, ${parallel} at once: ${s.seconds.toFixed(1)} s; CPU s: relay ${s.cpu.relay.toFixed(1)}, robots ${s.cpu.robots.toFixed(1)}, controller ${s.cpu.controller.toFixed(1)}; load ${loadavg()[0]?.toFixed(2)}`,
      );
    }
    const peak = rssOf(fleet.relay.pid ?? 0, "VmHWM");

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
    await fleet.stop();
  }
}
