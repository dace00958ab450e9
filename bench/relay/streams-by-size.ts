// Does a stream cost more when more robots are connected? Per fleet size, a fresh relay and fleet
// (fleet.ts), then the CPU its N idle connections cost for 5 s, then N streams alone (streams.ts),
// 8 at once: wall time and CPU per stream of each process, in one run.
//   npx tsx bench/relay/streams-by-size.ts [SIZES, default 100,300,600,1000]
import { loadavg } from "node:os";
import { cpuSeconds } from "./cpu.js";
import { startFleet } from "./fleet.js";
import { openStreams } from "./streams.js";

const IDLE_MS = 5_000;
const sizes = (process.argv[2] ?? "100,300,600,1000").split(",").map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
  process.stderr.write("usage: streams-by-size.ts [N,N,...] (positive integers)\n");
  process.exit(64);
}

const ms = (seconds: number, n: number) => ((seconds * 1000) / n).toFixed(1);
process.stdout.write(
  "| robots | idle CPU % relay / robots | streams, 8 at once | ms per stream | CPU ms per stream: relay / robots / controller | load |\n| --- | --- | --- | --- | --- | --- |\n",
);
for (const n of sizes) {
  const fleet = await startFleet(n);
  try {
    const pids = { relay: fleet.relay.pid ?? 0, robots: fleet.robots.pid ?? 0 };
    await new Promise((r) => setTimeout(r, 2_000)); // the last handshakes settle
    const idle0 = { relay: cpuSeconds(pids.relay), robots: cpuSeconds(pids.robots) };
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idle = (pid: number, from: number) => (((cpuSeconds(pid) - from) * 100_000) / IDLE_MS).toFixed(1);
    const idlePercent = `${idle(pids.relay, idle0.relay)} / ${idle(pids.robots, idle0.robots)}`;
    const s = await openStreams(
      {
        address: `127.0.0.1:${fleet.ports.controller}`,
        caFile: fleet.pki.relayCaFile,
        certFile: fleet.pki.clientCert,
        keyFile: fleet.pki.clientKey,
      },
      Array.from({ length: n }, (_, i) => `rl-sim-${i}`),
      8,
      pids,
    );
    process.stdout.write(
      `| ${n} (${fleet.connected} connected) | ${idlePercent} | ${s.opened} in ${s.seconds.toFixed(1)} s | ${ms(s.seconds, s.opened)} | ${ms(s.cpu.relay, s.opened)} / ${ms(s.cpu.robots, s.opened)} / ${ms(s.cpu.controller, s.opened)} | ${loadavg()[0]?.toFixed(2)} |\n`,
    );
  } finally {
    await fleet.stop();
  }
}
