// Where status --all's time goes: CPU seconds of each process (utime + stime, /proc/PID/stat).
import { readFileSync } from "node:fs";
import { join } from "node:path";

const TICKS = 100; // USER_HZ on Linux

/** User + system CPU seconds the process has used so far (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** `/usr/bin/time -f` output appended to stderr: the child's user + system CPU seconds. */
export const TIME_FORMAT = "cpu-seconds %U %S";

export function parseTime(stderr: string): number | undefined {
  const m = /cpu-seconds ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
  return m === null ? undefined : Number(m[1]) + Number(m[2]);
}

/**
 * BENCH_RELAY_PROF=DIR: node's --cpu-prof for the relay, the simulated robots and the CLI, each
 * process's profile in DIR/<part> (bench/relay/prof-top.ts sums them by function).
 */
export function profArgs(part: "relay" | "robots" | "cli"): string[] {
  const dir = process.env.BENCH_RELAY_PROF;
  return dir ? ["--cpu-prof", "--cpu-prof-dir", join(dir, part)] : [];
}

/** Microseconds on the monotonic clock V8's CPU profiles stamp their samples with. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
