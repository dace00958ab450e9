// A VM's clocks against the host's. The guest sets its clock from QEMU's RTC at each boot (whole
// seconds, no NTP in the lab), so its offset to the host changes with every boot: a guest time is
// put on the host's clock with THAT boot's offset, measured by a round trip. The console log is
// QEMU's file, watched from the host: its lines are timed on the host's clock as they appear.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { labExec } from "../../integration-tests/lab/index.js";

export interface BootClock {
  readonly bootId: string;
  /** Guest realtime − host realtime, ms (add to a host time to get the guest's). */
  readonly offsetMs: number;
  /** ± bound on offsetMs: half the best round trip. */
  readonly uncertaintyMs: number;
  /** This boot's kernel start on the HOST's clock (guest realtime − uptime − offset). */
  readonly kernelStartMs: number;
}

/** The guest's boot id, realtime and uptime in one shell (a line each). */
const PROBE = "cat /proc/sys/kernel/random/boot_id; date +%s%3N; cut -d' ' -f1 /proc/uptime";

/** Parses PROBE's output; throws on anything else (a boot that half answered is no measurement). */
export function parseProbe(stdout: string): { bootId: string; guestMs: number; uptimeMs: number } {
  const [bootId, ms, up] = stdout.trim().split("\n");
  const guestMs = Number(ms);
  const uptimeMs = Number(up) * 1000;
  if (
    bootId === undefined ||
    !/^[0-9a-f-]{36}$/.test(bootId) ||
    !Number.isFinite(guestMs) ||
    !(uptimeMs > 0)
  ) {
    throw new Error(`clock probe: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  return { bootId, guestMs, uptimeMs };
}

/**
 * Of several round trips (host before, guest reading, host after), the tightest: the guest read its
 * clock between `before` and `after`, so offset = guest − midpoint within ± (after − before) / 2.
 */
export function bestOffset(
  probes: readonly { beforeMs: number; afterMs: number; guestMs: number; uptimeMs: number; bootId: string }[],
): BootClock {
  const ids = new Set(probes.map((p) => p.bootId));
  if (ids.size !== 1) throw new Error(`clock probes span ${ids.size} boots`);
  const best = [...probes].sort((a, b) => a.afterMs - a.beforeMs - (b.afterMs - b.beforeMs))[0];
  if (best === undefined) throw new Error("no clock probe");
  const offsetMs = best.guestMs - (best.beforeMs + best.afterMs) / 2;
  return {
    bootId: best.bootId,
    offsetMs,
    uncertaintyMs: (best.afterMs - best.beforeMs) / 2,
    kernelStartMs: best.guestMs - best.uptimeMs - offsetMs,
  };
}

/** Runs argv in the robot: the lab's exec, or a fake in tests. */
export type Exec = (argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

export const labClockExec =
  (robot: string): Exec =>
  (argv) =>
    labExec(robot, argv, { timeoutMs: 30_000 });

/**
 * The running boot's clock from `tries` round trips. ssh into a VM under TCG on a loaded host
 * sometimes times out in the banner exchange: such a try is skipped (up to `tries` more, 2 s
 * apart), it says nothing about the clock.
 */
export async function bootClock(exec: Exec, tries = 3, pauseMs = 2_000): Promise<BootClock> {
  const probes = [];
  let lastError = "";
  for (let i = 0; i < 2 * tries && probes.length < tries; i++) {
    const beforeMs = Date.now();
    const r = await exec(["sh", "-c", PROBE]).catch((e: unknown) => ({
      code: -1,
      stdout: "",
      stderr: e instanceof Error ? e.message : String(e),
    }));
    const afterMs = Date.now();
    if (r.code === 0) probes.push({ beforeMs, afterMs, ...parseProbe(r.stdout) });
    else {
      lastError = `exited ${r.code}: ${r.stderr.trim().slice(0, 200)}`;
      await new Promise((done) => setTimeout(done, pauseMs));
    }
  }
  if (probes.length === 0) throw new Error(`clock probe: ${lastError}`);
  return bestOffset(probes);
}

export interface ConsoleWatch {
  /** Every complete line so far with the host time it was first seen. */
  lines(): readonly { readonly atMs: number; readonly line: string }[];
  stop(): void;
}

/** Polls the console file every 100 ms from its current end; lines are timed when first read. */
export function watchConsole(file: string): ConsoleWatch {
  const seen: { atMs: number; line: string }[] = [];
  let offset = statSync(file).size;
  let partial = "";
  const buf = Buffer.alloc(1 << 16);
  const tick = () => {
    const fd = openSync(file, "r");
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        const parts = (partial + buf.subarray(0, n).toString("latin1")).split(/\r?\n/);
        partial = parts.pop() ?? "";
        const atMs = Date.now();
        for (const line of parts) seen.push({ atMs, line });
      }
    } finally {
      closeSync(fd);
    }
  };
  const timer = setInterval(tick, 100);
  return {
    lines: () => seen,
    stop: () => {
      clearInterval(timer);
      tick();
    },
  };
}

/** Host times of the console lines matching `re`, in order. */
export const consoleTimes = (w: ConsoleWatch, re: RegExp): number[] =>
  w
    .lines()
    .filter((l) => re.test(l.line))
    .map((l) => l.atMs);
