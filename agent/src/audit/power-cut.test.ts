// Power cut while appending to the audit log (issue 29): a real child process runs the real
// writer and is SIGKILLed at random points; where it was killed before an entry was on disk, that
// entry's line is torn by hand (the part a power cut loses). Each restart appends again.
import { spawn } from "node:child_process";
import { readFileSync, truncateSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AUDIT_FILE, readAudit } from "./file.js";

// The built writer (like startup.test.ts, this needs `tsc -b agent` first): a child under tsx takes seconds to start.
const WRITER = new URL("../../dist/audit/file.js", import.meta.url).href;
/** Appends entries until killed, printing each one's number once append() resolved (on disk). Entries of up to ~7 kB cross page boundaries: a kill can land inside one write. */
const CHILD = `
const { AuditFile } = await import(${JSON.stringify(WRITER)});
const [dir, round] = process.argv.slice(1);
const file = new AuditFile({ dir });
for (let i = 0; ; i++) {
  await file.append({ round: Number(round), i, pad: "p".repeat((i * 2654435761) % 7000) });
  process.stdout.write(i + "\\n");
}`;
const ROUNDS = 50;
let dir = "";
afterAll(async () => {
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

/** Runs one writer until it has acknowledged `acks` entries (and a little more), kills it; returns the last acknowledged. */
function killedWriter(round: number, acks: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, dir, String(round)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let last = -1;
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const lines = out.split("\n");
      out = lines.pop() ?? "";
      for (const l of lines) last = Number(l);
      if (last + 1 >= acks) setTimeout(() => child.kill("SIGKILL"), extraMs);
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`writer ended by itself (${signal})`));
      else resolve(last);
    });
  });
}

describe("power cut while appending to the audit log", () => {
  it("after 50 kills at random points every acknowledged entry reads back, in order; torn lines never swallow later ones", async () => {
    dir = await mkdtemp(join(tmpdir(), "rr-audit-kill-"));
    const file = join(dir, AUDIT_FILE);
    let torn = 0;
    const acked: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const last = await killedWriter(round, Math.floor(Math.random() * 6), Math.floor(Math.random() * 15));
      acked.push(last);
      // The line after the last acknowledged entry was not known to be on disk: a power cut may tear it.
      const bytes = readFileSync(file);
      const end = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
      const tail = bytes.subarray(end).toString();
      if (tail.includes(`"round":${round},"i":${last + 1},`) && bytes.length - end > 20) {
        truncateSync(file, end + 10 + Math.floor(Math.random() * (bytes.length - end - 20)));
        torn++;
      }
    }
    const { entries, skipped } = await readAudit(dir);
    for (let round = 0; round < ROUNDS; round++) {
      const is = entries.filter((e) => e.round === round).map((e) => e.i as number);
      // Whole entries of each run, from its first, at least up to the last it acknowledged.
      expect(is, `round ${round}`).toEqual(Array.from({ length: is.length }, (_, k) => k));
      expect(is.length, `round ${round}`).toBeGreaterThanOrEqual((acked[round] ?? 0) + 1);
    }
    expect(entries.map((e) => e.round)).toEqual(
      [...entries.map((e) => e.round as number)].sort((a, b) => a - b),
    );
    // Each torn line is skipped on its own (a kill inside a write can tear one more).
    expect(torn).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThanOrEqual(torn);
    expect(skipped).toBeLessThanOrEqual(ROUNDS);
  }, 240_000);
});
