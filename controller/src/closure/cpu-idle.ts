import { cpus } from "node:os";

/** The machine's CPU time so far, all cores together (os.cpus(): 10 ms ticks). */
export interface CpuTimes {
  readonly idleMs: number;
  readonly totalMs: number;
  readonly cores: number;
}

export function cpuTimes(): CpuTimes {
  let idleMs = 0;
  let totalMs = 0;
  const all = cpus();
  for (const { times: t } of all) {
    idleMs += t.idle;
    totalMs += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idleMs, totalMs, cores: all.length };
}

/** Cores idle on average between two readings; undefined if no tick passed. */
export function spareCores(from: CpuTimes, to: CpuTimes): number | undefined {
  const total = to.totalMs - from.totalMs;
  if (total <= 0) return undefined;
  return ((to.idleMs - from.idleMs) / total) * to.cores;
}
