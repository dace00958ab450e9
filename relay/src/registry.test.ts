import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NotConnected, Registry, type RobotLink, UnknownTicket } from "./registry.js";

/** A connected robot that records the tickets it was asked to dial in with. */
function robot(name: string): RobotLink & { asked: string[] } {
  const asked: string[] = [];
  return {
    name,
    since: new Date(0),
    asked,
    open: () => Promise.reject(new Error("not in this test")),
    askDedicated: (t) => asked.push(t),
    close: () => undefined,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("dedicated connections' tickets", () => {
  it("join the robot's connection to the controller's whichever comes first, once", async () => {
    const reg = new Registry();
    const link = robot("r1");
    reg.attach(link);
    // The controller's first: it waits for the robot's.
    const t1 = reg.issueTicket("r1", 5_000);
    const waiting = reg.claim(t1);
    const s1 = new PassThrough();
    expect(reg.accept(link.asked[0] ?? "", s1)).toBe(true);
    expect(await waiting).toBe(s1);
    // The robot's first: it is held for the controller's.
    const t2 = reg.issueTicket("r1", 5_000);
    const s2 = new PassThrough();
    expect(reg.accept(link.asked[1] ?? "", s2)).toBe(true);
    expect(await reg.claim(t2)).toBe(s2);
    // Each ticket once; a ticket of one side is nothing on the other.
    await expect(reg.claim(t1)).rejects.toBeInstanceOf(UnknownTicket);
    expect(reg.accept(link.asked[0] ?? "", new PassThrough())).toBe(false);
    const t3 = reg.issueTicket("r1", 5_000);
    expect(reg.accept(t3, new PassThrough())).toBe(false);
    await expect(reg.claim(link.asked[2] ?? "")).rejects.toBeInstanceOf(UnknownTicket);
    expect(t1).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set([t1, t2, t3, ...link.asked]).size).toBe(6);
    reg.closeAll("done");
  });

  it("a robot not connected: no ticket, and it is not asked", () => {
    const reg = new Registry();
    expect(() => reg.issueTicket("r9", 5_000)).toThrow(NotConnected);
  });

  it("void after the timeout: a waiting controller is told, a robot's connection held for it is closed", async () => {
    vi.useFakeTimers();
    const reg = new Registry();
    const link = robot("r1");
    reg.attach(link);
    const waiting = reg.claim(reg.issueTicket("r1", 1_000));
    const t2 = reg.issueTicket("r1", 1_000);
    const held = new PassThrough();
    expect(reg.accept(link.asked[1] ?? "", held)).toBe(true);
    vi.advanceTimersByTime(1_000);
    await expect(waiting).rejects.toThrow("r1 did not open a stream within 1000 ms");
    expect(held.destroyed).toBe(true);
    await expect(reg.claim(t2)).rejects.toBeInstanceOf(UnknownTicket);
    expect(reg.accept(link.asked[0] ?? "", new PassThrough())).toBe(false); // late
  });

  it("at most maxPending at once; closeAll voids them all", async () => {
    const reg = new Registry(() => new Date(), 2);
    reg.attach(robot("r1"));
    const a = reg.claim(reg.issueTicket("r1", 5_000));
    reg.issueTicket("r1", 5_000);
    expect(() => reg.issueTicket("r1", 5_000)).toThrow("2 dedicated connections are pending; try again");
    reg.closeAll("relay stopping");
    await expect(a).rejects.toThrow("relay stopping");
    reg.issueTicket("r1", 5_000); // room again
    reg.closeAll("done");
  });
});
