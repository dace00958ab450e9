// The relay suite (issue 27): one relay with many simulated robots (bench/relay/scale.ts). It needs
// no lab robot; BENCH_RELAY_ROBOTS sets how many (default 1,000).
import { measureScale } from "../relay/scale.js";
import type { SuiteResult } from "./suite.js";

const GOALS = { rssMB: 200, statusAllSeconds: 10 };

const perStream = (cpuSeconds: number, streams: number) =>
  ((cpuSeconds * 1000) / Math.max(1, streams)).toFixed(1);

export async function relaySuite(log: (line: string) => void): Promise<SuiteResult> {
  const n = Number(process.env.BENCH_RELAY_ROBOTS ?? 1000);
  const r = await measureScale(n, log);
  const mark = (ok: boolean) => (ok ? "met" : "**missed**");
  const rows = [
    `| robots connected (one relay process; the ${n} RelayLinks in one other process) | ${r.connected} of ${r.robots}, in ${r.connectSeconds.toFixed(1)} s |`,
    `| relay RSS idle → ${r.robots} connected (goal ≤ ${GOALS.rssMB} MB) | ${r.relayRssIdleMB.toFixed(1)} → ${r.relayRssConnectedMB.toFixed(1)} MB, ${mark(r.relayRssConnectedMB <= GOALS.rssMB)} |`,
    `| relay cost per connected idle robot | ${r.perRobotKB.toFixed(0)} KB |`,
    `| relay peak RSS (through status --all) | ${r.relayPeakRssMB.toFixed(1)} MB |`,
    ...r.statusAll.map(
      (s) =>
        `| \`status --all\` of the ${r.robots} through the relay, ${s.label} (goal ≤ ${GOALS.statusAllSeconds} s) | ${s.seconds.toFixed(1)} s, exit ${s.exitCode}, ${s.answered} answered, ${mark(s.seconds <= GOALS.statusAllSeconds)}; CPU s: relay ${s.cpu.relay.toFixed(1)}, robots ${s.cpu.robots.toFixed(1)}, CLI ${s.cpu.cli?.toFixed(1) ?? "?"} |`,
    ),
    ...r.streams.map(
      (s) =>
        `| relay streams alone: ${r.robots} opened (controller → relay → the robot's stream), ${s.parallel} at once | ${s.seconds.toFixed(1)} s, ${s.opened} opened; CPU ms per stream: relay ${perStream(s.cpu.relay, s.opened)}, robots ${perStream(s.cpu.robots, s.opened)}, controller ${perStream(s.cpu.controller, s.opened)} |`,
    ),
    ...r.restarts.map(
      (x) =>
        `| relay restart: all back; each robot connected after its scheduled back-off attempt by (p50 / p95 / max; bound: the relay's 10 s handshake limit) | down ${x.downSeconds.toFixed(1)} s, ${x.reconnected} back in ${x.reconnectSeconds.toFixed(1)} s; ${x.late.p50} / ${x.late.p95} / ${x.late.max} ms |`,
    ),
  ];
  return { json: { ...r, goals: GOALS }, text: `| measure | result |\n| --- | --- |\n${rows.join("\n")}` };
}
