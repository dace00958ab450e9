import { describe, expect, it } from "vitest";
import { RolloutBoard } from "./board.js";

function board(columns = 120) {
  const out: string[] = [];
  const b = new RolloutBoard({ write: (t) => out.push(t) }, ["fl-1", "fl-2"], columns);
  return { b, out, text: () => out.join("") };
}

describe("RolloutBoard (the live table on a TTY)", () => {
  it("fills each robot's row from its lines and scrolls the rollout's own lines above the table", () => {
    const { b, text } = board();
    b.write("rollout r-1: wave 1/2 (canary): fl-1\n");
    b.write("fl-1: push:  40%  4.0 MiB of 10 MiB\n");
    b.write("fl-1: 12:00:01 CHECKING_HEALTH talker is active; checking health\n");
    b.write("fl-1: 12:00:02 health healthy (3 checks)\n");
    b.write("fl-1: succeeded: confirmed\n");
    b.close();
    const table = b.table();
    expect(table[0]).toMatch(/^robot\s+phase\s+transfer\s+health\s+outcome$/);
    expect(table[1]).toMatch(/^fl-1 .*CHECKING_HEALTH.* 40% .*healthy \(3 checks\).*succeeded: confirmed$/);
    expect(table[2]).toMatch(/^fl-2\s+waiting$/);
    // The rollout line went above the table, once; every redraw moves back up over the table.
    expect(text().split("rollout r-1: wave 1/2").length).toBe(2);
    expect(text()).toContain("\x1b[3A\r\x1b[J");
  });

  it("shows a robot waiting to come online, when it came online, and one that never did", () => {
    const { b } = board(300);
    b.write("fl-1: offline, waiting to come online: fl-1: UNAVAILABLE: fl-1 is not connected to the relay\n");
    b.write("fl-2: offline, waiting to come online: fl-2: UNAVAILABLE: cannot reach the agent\n");
    expect(b.table()[1]).toMatch(/^fl-1\s+offline, waiting to come online/);
    b.write("fl-1: came online after 2.1 s\n");
    b.write("fl-2: skipped (offline): offline: not reached within --wait-online 30: fl-2: UNAVAILABLE\n");
    b.close();
    expect(b.table()[1]).toMatch(/^fl-1\s+came online after 2\.1 s$/);
    expect(b.table()[2]).toMatch(/^fl-2\s+offline, waiting .*skipped \(offline\): offline: not reached/);
  });

  it("redraws in place: each redraw climbs exactly the lines the previous one drew", () => {
    const { b, out } = board();
    b.write("note one\n");
    b.write("note two\n");
    b.close();
    expect(out[0]?.startsWith("note one\n")).toBe(true);
    expect(out[1]?.startsWith("\x1b[3A\r\x1b[Jnote two\n")).toBe(true);
  });

  it("keeps rows within the terminal's width and passes lines through once closed", () => {
    const { b, out } = board(40);
    b.write(`fl-2: ${"x".repeat(200)}\n`);
    b.close();
    for (const row of b.table()) expect(row.length).toBeLessThanOrEqual(39);
    b.write("after: the end\n");
    expect(out.at(-1)).toBe("after: the end\n");
  });
});
