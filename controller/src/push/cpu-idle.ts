import { readFileSync } from "node:fs";
import { availableParallelism, type CpuInfo, cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/**
 * The CPU time this process could use so far: the CPUs its affinity allows
 * (idle and total over them), and the cgroup CPU quotas above it (v2 cpu.max, v1 CFS).
 */
export interface CpuTimes {
  readonly idleMs: number;
  readonly totalMs: number;
  /** How many CPUs idleMs/totalMs cover. */
  readonly cores: number;
  /** Each cgroup (own or ancestor) with a CPU quota: its limit in cores and its usage so far. */
  readonly quotas?: readonly CgroupQuota[];
  /** When the quotas' usage was read (monotonic ms). */
  readonly atMs?: number;
}

export interface CgroupQuota {
  /** The cgroup's path ("/a/b"; "v1:/a/b" for cgroup v1). */
  readonly path: string;
  readonly limitCores: number;
  readonly usageMs: number;
}

/** Where readCpuTimes falls back to without /proc/stat (other systems). */
export interface CpuFallback {
  readonly cpus: () => readonly { readonly times: CpuInfo["times"] }[];
  readonly availableParallelism: () => number;
  readonly now: () => number;
}

const NODE: CpuFallback = { cpus, availableParallelism, now: () => performance.now() };
/** /proc/stat counts in USER_HZ ticks, 100 per second on Linux (as os.cpus() assumes). */
const TICK_MS = 10;

/** This machine, as the controller sees it. */
export function cpuTimes(): CpuTimes {
  return readCpuTimes("/");
}

/**
 * Reads /proc/self/status (affinity), /proc/stat (per-CPU times) and the
 * process's cgroup quotas (v2 cpu.max and cpu.stat, v1 cpu.cfs_quota_us and cpuacct.usage; and its ancestors') under `root`
 * ("/" for this machine; tests pass a directory of such files). Without
 * /proc/stat: os.cpus() over every CPU, scaled to availableParallelism().
 */
export function readCpuTimes(root: string, fallback: CpuFallback = NODE): CpuTimes {
  const host = affinityTimes(root) ?? fallbackTimes(fallback);
  const quotas = cgroupQuotas(root);
  return quotas.length === 0 ? host : { ...host, quotas, atMs: fallback.now() };
}

/**
 * Cores idle on average between two readings: the allowed CPUs' idle share,
 * and no more than any quota leaves (its limit minus the cgroup's usage);
 * undefined if no tick passed.
 */
export function spareCores(from: CpuTimes, to: CpuTimes): number | undefined {
  const total = to.totalMs - from.totalMs;
  if (total <= 0) return undefined;
  let spare = ((to.idleMs - from.idleMs) / total) * to.cores;
  const wall = (to.atMs ?? 0) - (from.atMs ?? 0);
  if (wall > 0) {
    for (const q of to.quotas ?? []) {
      const before = from.quotas?.find((f) => f.path === q.path);
      if (before === undefined) continue;
      spare = Math.min(spare, Math.max(0, q.limitCores - (q.usageMs - before.usageMs) / wall));
    }
  }
  return spare;
}

function read(root: string, path: string): string | undefined {
  try {
    return readFileSync(join(root, path), "utf8");
  } catch {
    return undefined;
  }
}

function fallbackTimes(f: CpuFallback): CpuTimes {
  let idleMs = 0;
  let totalMs = 0;
  const all = f.cpus();
  for (const { times: t } of all) {
    idleMs += t.idle;
    totalMs += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  // Which CPUs the affinity allows is unknown here: their share is assumed typical.
  return { idleMs, totalMs, cores: Math.min(all.length, f.availableParallelism()) };
}

/** The allowed CPUs' times from /proc/stat; undefined when it cannot be read. */
function affinityTimes(root: string): CpuTimes | undefined {
  const stat = read(root, "proc/stat");
  if (stat === undefined) return undefined;
  const allowed = cpuList(/^Cpus_allowed_list:\s*(\S+)/m.exec(read(root, "proc/self/status") ?? "")?.[1]);
  let idleMs = 0;
  let totalMs = 0;
  let cores = 0;
  for (const m of stat.matchAll(/^cpu(\d+)\s+(.*)$/gm)) {
    if (allowed !== undefined && !allowed.has(Number(m[1]))) continue;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const f = (m[2] ?? "").trim().split(/\s+/).slice(0, 8).map(Number);
    if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
    idleMs += ((f[3] ?? 0) + (f[4] ?? 0)) * TICK_MS;
    totalMs += f.reduce((a, b) => a + b, 0) * TICK_MS;
    cores++;
  }
  return cores === 0 ? undefined : { idleMs, totalMs, cores };
}

/** "0-3,8,10-11" → {0,1,2,3,8,10,11}; undefined when absent or malformed. */
export function cpuList(text: string | undefined): Set<number> | undefined {
  if (text === undefined) return undefined;
  const set = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 65536) return undefined;
    for (let i = lo; i <= hi; i++) set.add(i);
  }
  return set;
}

/** The cgroup quotas above the process: v2's cpu.max and v1's CFS quota (a hybrid host may have either). */
function cgroupQuotas(root: string): CgroupQuota[] {
  const cgroups = read(root, "proc/self/cgroup") ?? "";
  return [...cgroupV2Quotas(root, cgroups), ...cgroupV1Quotas(root, cgroups)];
}

/** `path` and each ancestor up to "/" (the mount's root), without trailing slashes. */
function* selfAndAncestors(path: string): Generator<string> {
  for (let p = path.replace(/\/+$/, ""); ; p = p.slice(0, p.lastIndexOf("/"))) {
    yield p;
    if (p === "") return;
  }
}

/**
 * The process's cgroup v2 ("0::/path" in /proc/self/cgroup) and each ancestor
 * up to the mount, at /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified
 * (hybrid): those whose cpu.max sets a quota, with their usage.
 */
function cgroupV2Quotas(root: string, cgroups: string): CgroupQuota[] {
  const own = /^0::(\/.*)$/m.exec(cgroups)?.[1];
  if (own === undefined) return [];
  const mount = ["sys/fs/cgroup", "sys/fs/cgroup/unified"].find(
    (m) => read(root, `${m}/cgroup.controllers`) !== undefined,
  );
  if (mount === undefined) return [];
  const quotas: CgroupQuota[] = [];
  for (const path of selfAndAncestors(own)) {
    const dir = `${mount}${path}`;
    const max = /^(\d+|max)\s+(\d+)\s*$/.exec(read(root, `${dir}/cpu.max`) ?? "");
    const usage = /^usage_usec\s+(\d+)$/m.exec(read(root, `${dir}/cpu.stat`) ?? "")?.[1];
    if (max !== null && max[1] !== "max" && Number(max[2]) > 0 && usage !== undefined) {
      quotas.push({
        path: path === "" ? "/" : path,
        limitCores: Number(max[1]) / Number(max[2]),
        usageMs: Number(usage) / 1000,
      });
    }
  }
  return quotas;
}

/**
 * cgroup v1: the "cpu" hierarchy's line in /proc/self/cgroup ("4:cpu,cpuacct:/path"),
 * mounted at /sys/fs/cgroup/<its controllers> or /sys/fs/cgroup/cpu; each cgroup
 * up to the root whose cpu.cfs_quota_us is set (not -1), with cpuacct.usage (ns)
 * from the same directory (cpu and cpuacct are mounted together wherever systemd
 * or Docker set them up).
 */
function cgroupV1Quotas(root: string, cgroups: string): CgroupQuota[] {
  for (const m of cgroups.matchAll(/^\d+:([^:\n]*):(\/.*)$/gm)) {
    const controllers = m[1] ?? "";
    if (!controllers.split(",").includes("cpu")) continue;
    const mount = [`sys/fs/cgroup/${controllers}`, "sys/fs/cgroup/cpu"].find(
      (d) => read(root, `${d}/cpu.cfs_period_us`) !== undefined,
    );
    if (mount === undefined) return [];
    const quotas: CgroupQuota[] = [];
    for (const path of selfAndAncestors(m[2] ?? "/")) {
      const dir = `${mount}${path}`;
      const quota = /^(-?\d+)\s*$/.exec(read(root, `${dir}/cpu.cfs_quota_us`) ?? "")?.[1];
      const period = /^(\d+)\s*$/.exec(read(root, `${dir}/cpu.cfs_period_us`) ?? "")?.[1];
      const usage = /^(\d+)\s*$/.exec(read(root, `${dir}/cpuacct.usage`) ?? "")?.[1];
      if (quota === undefined || period === undefined || usage === undefined) continue;
      if (Number(quota) <= 0 || Number(period) <= 0) continue;
      quotas.push({
        // Its own namespace: a v1 and a v2 cgroup may both be "/" on a hybrid host.
        path: `v1:${path === "" ? "/" : path}`,
        limitCores: Number(quota) / Number(period),
        usageMs: Number(usage) / 1e6,
      });
    }
    return quotas;
  }
  return [];
}
