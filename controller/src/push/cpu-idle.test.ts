import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CpuFallback, type CpuTimes, cpuList, cpuTimes, readCpuTimes, spareCores } from "./cpu-idle.js";

describe("spareCores", () => {
  it.each([
    [0, 0], // every core busy
    [100, 4], // every core idle
    [25, 1],
  ])("%d ms idle of 100 on 4 cores: %d spare", (idle, spare) => {
    const from = { idleMs: 1000, totalMs: 4000, cores: 4 };
    expect(spareCores(from, { idleMs: 1000 + idle, totalMs: 4100, cores: 4 })).toBe(spare);
  });

  it("no tick between the readings: no verdict (no division by zero)", () => {
    const t = { idleMs: 1000, totalMs: 4000, cores: 4 };
    expect(spareCores(t, t)).toBeUndefined();
  });
});

// The parsing, on real files laid out as /proc and /sys/fs/cgroup are, in a temporary root.
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "ros-rollback-cpu-idle-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function put(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}
/** /proc/stat with one line per CPU: [busy, idle] ticks. */
function procStat(perCpu: readonly (readonly [number, number])[]): void {
  const lines = perCpu.map(([busy, idle], i) => `cpu${i} ${busy} 0 0 ${idle} 0 0 0 0 0 0`);
  put("proc/stat", ["cpu  1 2 3 4 5 6 7 8 0 0", ...lines, "intr 1 2 3", "ctxt 9"].join("\n"));
}
const clock = (times: number[]): CpuFallback => ({
  cpus: () => [],
  availableParallelism: () => 1,
  now: () => times.shift() ?? 0,
});

describe("readCpuTimes on files", () => {
  it("counts only the CPUs the affinity allows (Cpus_allowed_list)", () => {
    put("proc/self/status", "Name:\tnode\nCpus_allowed:\ta\nCpus_allowed_list:\t1,3\n");
    procStat([
      [0, 100],
      [100, 0],
      [0, 100],
      [50, 50],
    ]);
    // CPUs 1 and 3: 50 idle ticks of 200.
    expect(readCpuTimes(root)).toEqual({ idleMs: 500, totalMs: 2000, cores: 2 });
  });

  it("every CPU in /proc/stat without an affinity list; iowait is idle, steal is not", () => {
    put("proc/stat", "cpu0 10 0 0 20 5 0 0 15 0 0\ncpu1 0 0 0 50 0 0 0 0 0 0\n");
    expect(readCpuTimes(root)).toEqual({ idleMs: 750, totalMs: 1000, cores: 2 });
  });

  it("a cgroup v2 quota caps the spare cores: the limit minus the cgroup's usage over the wall time", () => {
    procStat([
      [0, 100],
      [0, 100],
      [0, 100],
      [0, 100],
    ]);
    put("proc/self/cgroup", "1:name=systemd:/x\n0::/ctl/job\n");
    put("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put("sys/fs/cgroup/ctl/job/cpu.max", "max 100000\n");
    put("sys/fs/cgroup/ctl/job/cpu.stat", "usage_usec 5000000\n");
    put("sys/fs/cgroup/ctl/cpu.max", "150000 100000\n");
    put("sys/fs/cgroup/ctl/cpu.stat", "usage_usec 1000000\nuser_usec 1\n");
    const fallback = clock([10_000, 12_000]);
    const a = readCpuTimes(root, fallback);
    expect(a.quotas).toEqual([{ path: "/ctl", limitCores: 1.5, usageMs: 1000 }]);
    // The host's 4 CPUs stay idle; the quota's cgroup used 1 s of CPU in 2 s: 1.5 − 0.5 spare.
    procStat([
      [0, 300],
      [0, 300],
      [0, 300],
      [0, 300],
    ]);
    put("sys/fs/cgroup/ctl/cpu.stat", "usage_usec 2000000\n");
    const b = readCpuTimes(root, fallback);
    expect(spareCores(a, b)).toBe(1);
  });

  it("the host's idle time still caps a generous quota", () => {
    const a: CpuTimes = { idleMs: 0, totalMs: 0, cores: 2, atMs: 0, quotas: [q(8, 0)] };
    const b: CpuTimes = { idleMs: 500, totalMs: 2000, cores: 2, atMs: 1000, quotas: [q(8, 100)] };
    expect(spareCores(a, b)).toBe(0.5);
  });

  it("the hybrid layout (cgroup v2 at /sys/fs/cgroup/unified), the root cgroup, and a quota used up", () => {
    procStat([[0, 100]]);
    put("proc/self/cgroup", "0::/\n");
    put("sys/fs/cgroup/unified/cgroup.controllers", "cpu\n");
    put("sys/fs/cgroup/unified/cpu.max", "50000 100000\n");
    put("sys/fs/cgroup/unified/cpu.stat", "usage_usec 0\n");
    const fallback = clock([0, 1000]);
    const a = readCpuTimes(root, fallback);
    put("sys/fs/cgroup/unified/cpu.stat", "usage_usec 700000\n");
    procStat([[0, 200]]);
    expect(a.quotas).toEqual([{ path: "/", limitCores: 0.5, usageMs: 0 }]);
    expect(spareCores(a, readCpuTimes(root, fallback))).toBe(0);
  });

  it.each([
    ["no quota", "max 100000"],
    ["garbage", "lots"],
    ["a zero period", "5000 0"],
  ])("cpu.max with %s: no quota", (_, text) => {
    procStat([[0, 1]]);
    put("proc/self/cgroup", "0::/a\n");
    put("sys/fs/cgroup/cgroup.controllers", "cpu\n");
    put("sys/fs/cgroup/a/cpu.max", text);
    put("sys/fs/cgroup/a/cpu.stat", "usage_usec 1\n");
    expect(readCpuTimes(root).quotas).toBeUndefined();
  });

  it("a cgroup v1 CFS quota (cpu,cpuacct hierarchy) and its parent's: the tighter caps the spare cores", () => {
    procStat([
      [0, 100],
      [0, 100],
    ]);
    put("proc/self/cgroup", "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/y\n0::/\n");
    const v1 = "sys/fs/cgroup/cpu,cpuacct";
    put(`${v1}/cpu.cfs_period_us`, "100000\n");
    put(`${v1}/cpu.cfs_quota_us`, "-1\n");
    put(`${v1}/cpuacct.usage`, "0\n");
    put(`${v1}/docker/cpu.cfs_period_us`, "100000\n");
    put(`${v1}/docker/cpu.cfs_quota_us`, "150000\n");
    put(`${v1}/docker/cpuacct.usage`, "0\n");
    put(`${v1}/docker/abc/cpu.cfs_period_us`, "50000\n");
    put(`${v1}/docker/abc/cpu.cfs_quota_us`, "50000\n");
    put(`${v1}/docker/abc/cpuacct.usage`, "1000000\n");
    const fallback = clock([0, 1000]);
    const a = readCpuTimes(root, fallback);
    expect(a.quotas).toEqual([
      { path: "v1:/docker/abc", limitCores: 1, usageMs: 1 },
      { path: "v1:/docker", limitCores: 1.5, usageMs: 0 },
    ]);
    // 1 s later: the container used 0.6 s of CPU (of its 1 core), the parent 1.2 s (of 1.5).
    put(`${v1}/docker/abc/cpuacct.usage`, "601000000\n");
    put(`${v1}/docker/cpuacct.usage`, "1200000000\n");
    procStat([
      [0, 200],
      [0, 200],
    ]);
    expect(spareCores(a, readCpuTimes(root, fallback))).toBeCloseTo(0.3, 9);
  });

  it("cgroup v1 mounted at /sys/fs/cgroup/cpu beside a v2 quota: both count, kept apart", () => {
    procStat([[0, 100]]);
    put("proc/self/cgroup", "3:cpu,cpuacct:/\n0::/\n");
    put("sys/fs/cgroup/unified/cgroup.controllers", "\n");
    put("sys/fs/cgroup/unified/cpu.max", "200000 100000\n");
    put("sys/fs/cgroup/unified/cpu.stat", "usage_usec 5\n");
    put("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    put("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "25000\n");
    put("sys/fs/cgroup/cpu/cpuacct.usage", "7000000\n");
    expect(readCpuTimes(root, clock([0])).quotas).toEqual([
      { path: "/", limitCores: 2, usageMs: 0.005 },
      { path: "v1:/", limitCores: 0.25, usageMs: 7 },
    ]);
  });

  it.each([
    ["no quota (-1)", "-1", "100000", "5"],
    ["garbage", "lots", "100000", "5"],
    ["a zero period", "5000", "0", "5"],
    ["no usage", "5000", "100000", undefined],
  ])("cgroup v1 with %s: no quota", (_, quota, period, usage) => {
    procStat([[0, 1]]);
    put("proc/self/cgroup", "2:cpuacct,cpu:/a\n");
    put("sys/fs/cgroup/cpuacct,cpu/a/cpu.cfs_quota_us", quota);
    put("sys/fs/cgroup/cpuacct,cpu/a/cpu.cfs_period_us", period);
    put("sys/fs/cgroup/cpuacct,cpu/cpu.cfs_period_us", "100000");
    if (usage !== undefined) put("sys/fs/cgroup/cpuacct,cpu/a/cpuacct.usage", usage);
    expect(readCpuTimes(root).quotas).toBeUndefined();
  });

  it("without /proc/stat: os.cpus() over every CPU, counted as availableParallelism() of them", () => {
    const times = { user: 30, nice: 0, sys: 10, idle: 60, irq: 0 };
    const fallback: CpuFallback = {
      cpus: () => [{ times }, { times }],
      availableParallelism: () => 1,
      now: () => 0,
    };
    expect(readCpuTimes(root, fallback)).toEqual({ idleMs: 120, totalMs: 200, cores: 1 });
  });
});

describe("cpuList", () => {
  it.each([
    ["0-3,8,10-11", [0, 1, 2, 3, 8, 10, 11]],
    ["5", [5]],
  ])("%s", (text, cpus) => expect([...(cpuList(text) ?? [])]).toEqual(cpus));
  it.each(["", "3-1", "a", "1,,2", "0-999999"])("%j: malformed", (text) =>
    expect(cpuList(text)).toBeUndefined(),
  );
});

describe("cpuTimes on this machine", () => {
  it("covers the CPUs the process may use, idle within the total, never going back", () => {
    const a = cpuTimes();
    const b = cpuTimes();
    expect(a.cores).toBe(availableParallelism());
    expect(a.idleMs).toBeLessThanOrEqual(a.totalMs);
    expect(b.totalMs).toBeGreaterThanOrEqual(a.totalMs);
    const spare = spareCores(a, b);
    if (spare !== undefined) expect(spare).toBeLessThanOrEqual(a.cores);
  });

  it("under taskset -c 0 (an affinity of one CPU) it counts one core", () => {
    const script = `import("${resolve(import.meta.dirname, "cpu-idle.ts")}").then((m) => console.log(JSON.stringify(m.cpuTimes())))`;
    const out = execFileSync("taskset", ["-c", "0", process.execPath, "--import", "tsx", "-e", script], {
      cwd: resolve(import.meta.dirname, "../../.."),
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toMatchObject({ cores: 1 });
  });
});

function q(limitCores: number, usageMs: number) {
  return { path: "/a", limitCores, usageMs };
}
