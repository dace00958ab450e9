import { describe, expect, it } from "vitest";
import { bestOffset, bootClock, type Exec, parseProbe } from "./vm-clock.js";
import { panicPhases, rebootDeployPhases, type TimedEvent } from "./vm-phases.js";

const T = Date.parse("2026-12-02T12:00:00.000Z");
/** An event at host time `hostMs` as a guest with `offsetMs` (guest − host) stamps it. */
const ev = (state: string, hostMs: number, offsetMs: number): TimedEvent => ({
  state,
  time: new Date(hostMs + offsetMs).toISOString(),
});
const clock = (bootId: string, offsetMs: number, kernelStartMs: number) => ({
  bootId,
  offsetMs,
  uncertaintyMs: 5,
  kernelStartMs,
});

describe("vm suite: boot clocks", () => {
  it("parses the probe and takes the tightest round trip's midpoint", () => {
    const id = "0b7c2b8e-1d3f-4a5e-9c6d-7e8f9a0b1c2d";
    const p = parseProbe(`${id}\n${T + 1_700}\n42.50\n`);
    expect(p).toEqual({ bootId: id, guestMs: T + 1_700, uptimeMs: 42_500 });
    const c = bestOffset([
      { ...p, beforeMs: T - 2_000, afterMs: T + 2_000 },
      { ...p, beforeMs: T + 900, afterMs: T + 1_100 },
    ]);
    expect(c.offsetMs).toBe(700);
    expect(c.uncertaintyMs).toBe(100);
    // Kernel start on the host's clock: guest reading − uptime − offset.
    expect(c.kernelStartMs).toBe(T + 1_700 - 42_500 - 700);
  });

  it("refuses a half answer and probes from two boots", () => {
    expect(() => parseProbe("0b7c2b8e-1d3f-4a5e-9c6d-7e8f9a0b1c2d\n\n")).toThrow(/clock probe/);
    const base = { guestMs: T, uptimeMs: 1, beforeMs: T, afterMs: T };
    expect(() =>
      bestOffset([
        { ...base, bootId: "a" },
        { ...base, bootId: "b" },
      ]),
    ).toThrow(/2 boots/);
  });
});

describe("vm suite: probing a boot's clock", () => {
  const id = "0b7c2b8e-1d3f-4a5e-9c6d-7e8f9a0b1c2d";
  /** Answers per `script`: a number is a guest reading, a string an ssh failure. */
  const fake = (script: (number | string)[]): { exec: Exec; calls: () => number } => {
    let i = 0;
    const exec: Exec = async () => {
      const step = script[i++];
      if (step === undefined) throw new Error("probed more than scripted");
      return typeof step === "number"
        ? { code: 0, stdout: `${id}\n${step}\n10.00\n`, stderr: "" }
        : { code: 255, stdout: "", stderr: step };
    };
    return { exec, calls: () => i };
  };

  it("skips a try whose ssh timed out and still takes 3 readings", async () => {
    const f = fake([Date.now(), "Connection timed out during banner exchange", Date.now(), Date.now()]);
    const c = await bootClock(f.exec, 3, 0);
    expect(f.calls()).toBe(4);
    expect(c.bootId).toBe(id);
  });

  it("gives up after twice the tries, naming the last failure", async () => {
    const f = fake(["a", "b", "c", "d", "e", "timed out"]);
    await expect(bootClock(f.exec, 3, 0)).rejects.toThrow(/clock probe: exited 255: timed out/);
    expect(f.calls()).toBe(6);
  });
});

describe("vm suite: phases on the host's timeline", () => {
  // The old boot's guest clock runs 800 ms ahead of the host, the new one's 300 ms behind.
  const before = clock("old", 800, T - 100_000);
  const after = clock("new", -300, T + 20_000);

  it("a reboot deployment: each boundary with its own boot's offset", () => {
    const run = {
      startMs: T,
      endMs: T + 150_000,
      pushSeconds: 0.4,
      events: [
        ev("PENDING", T + 2_000, 800),
        ev("AWAITING_REBOOT", T + 5_000, 800),
        ev("CHECKING_HEALTH", T + 100_000, -300),
        ev("AWAITING_CONFIRMATION", T + 140_000, -300),
        ev("SUCCEEDED", T + 149_000, -300),
      ],
    };
    expect(rebootDeployPhases(run, before, after, T + 12_000)).toEqual({
      "deploy (CLI, total)": 150,
      "transfer (start → PENDING: closure, query, push)": 2,
      "  push (CLI's report)": 0.4,
      "install (PENDING → AWAITING_REBOOT: profile, loader entry)": 3,
      "reboot (AWAITING_REBOOT → new kernel start)": 15,
      "  shutdown (→ the old kernel's 'Restarting system')": 7,
      "  firmware, loader (→ new kernel start)": 8,
      "boot (kernel start → CHECKING_HEALTH)": 80,
      "health (CHECKING_HEALTH → AWAITING_CONFIRMATION)": 40,
      "confirm (AWAITING_CONFIRMATION → SUCCEEDED)": 9,
      "SUCCEEDED → CLI exit": 1,
    });
  });

  it("refuses a run without a boundary or without a reboot", () => {
    const run = { startMs: T, endMs: T + 1, pushSeconds: 0, events: [ev("PENDING", T, 0)] };
    expect(() => rebootDeployPhases(run, before, after, undefined)).toThrow(/no AWAITING_REBOOT event/);
    expect(() => rebootDeployPhases(run, before, before, undefined)).toThrow(/did not reboot/);
  });

  it("a panicking generation: from its first panic on the console to the previous one", () => {
    const run = {
      startMs: T,
      endMs: T + 200_000,
      pushSeconds: 0,
      events: [ev("AWAITING_REBOOT", T + 5_000, 800), ev("ROLLED_BACK", T + 190_000, -300)],
    };
    expect(
      panicPhases(run, before, { ...after, kernelStartMs: T + 100_000 }, [T + 30_000, T + 60_000]),
    ).toEqual({
      "reboot asked (AWAITING_REBOOT) → 1st panic (console)": 25,
      "1st panic → previous generation's kernel start": 70,
      "1st panic → ROLLED_BACK (agent, on the previous generation)": 160,
      "1st panic → CLI exit": 170,
      "reboot asked → ROLLED_BACK": 185,
    });
    expect(() => panicPhases(run, before, after, [])).toThrow(/no kernel panic/);
  });
});
