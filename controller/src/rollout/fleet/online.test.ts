import { describe, expect, it } from "vitest";
import { UsageError } from "../../core/errors.js";
import type { DeploymentReport } from "../../report/report.js";
import { type Attempt, ONLINE_POLL_MS, parseWaitOnline, untilOnline } from "./online.js";

const raw = (v: string) => ({ values: { "wait-online": v }, positionals: [] });

describe("--wait-online", () => {
  it.each(["1", "600", "86400"])("takes %s", (v) => {
    expect(parseWaitOnline(raw(v), "deploy")).toBe(Number(v));
  });

  it.each(["0", "86401", "1.5", "-1", "1e3", "", " 5", "x".repeat(100)])("refuses %j, bounded", (v) => {
    const attempt = () => parseWaitOnline(raw(v), "deploy");
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(/^--wait-online: expected whole seconds from 1 to 86400, got ".{0,40}"$/);
  });
});

/** A clock that moves only when slept on, and attempts that say offline until `reachable(now)`. */
function rig(reachable: (now: number) => boolean) {
  let now = 0;
  const starts: number[] = [];
  const io = {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
  const attempt = async (): Promise<Attempt> => {
    starts.push(now);
    const up = reachable(now);
    // A deployment takes a while: it may end after the window closed.
    if (up) now += 5_000;
    return { report: {} as DeploymentReport, reachedAt: up ? now : undefined, offline: !up };
  };
  return { io, attempt, starts };
}

describe("untilOnline", () => {
  it("makes its last attempt at the close, so a robot online by then is reached (and deployed past it)", async () => {
    const r = rig((t) => t >= 2_500);
    const a = await untilOnline(r.io, new AbortController().signal, 2_500, r.attempt, () => false);
    expect(r.starts).toEqual([0, ONLINE_POLL_MS, 2 * ONLINE_POLL_MS, 2_500]);
    expect(a?.offline).toBe(false);
  });

  it("still offline at the close: the last attempt's report, once", async () => {
    const r = rig(() => false);
    const a = await untilOnline(r.io, new AbortController().signal, 1_500, r.attempt, () => false);
    expect(r.starts).toEqual([0, 1_000, 1_500]);
    expect(a?.offline).toBe(true);
  });

  it("stopped (an abort, Ctrl-C): no further attempt", async () => {
    const r = rig(() => false);
    let stop = false;
    const io = {
      ...r.io,
      sleep: async (ms: number) => {
        await r.io.sleep(ms);
        stop = true;
      },
    };
    const a = await untilOnline(io, new AbortController().signal, 10_000, r.attempt, () => stop);
    expect(a).toBeUndefined();
    expect(r.starts).toEqual([0]);
  });
});
