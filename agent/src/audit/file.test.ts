import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AUDIT_FILE, AuditFile, MAX_LINE, readAudit } from "./file.js";

const tmp = mkdtempSync(join(tmpdir(), "rr-audit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(tmp, `d${n++}`);
  mkdirSync(d);
  return d;
};

describe("the audit file", () => {
  it("a power cut at any byte of a real file reads back to the last whole entry, and later entries are not lost", async () => {
    const dir = fresh();
    const f = new AuditFile({ dir });
    for (let i = 0; i < 6; i++) await f.append({ i, rpc: "Activate", note: 'ünïcødé\n"quoted"' });
    await f.close();
    const bytes = readFileSync(join(dir, AUDIT_FILE));
    const ends: number[] = [];
    for (const [i, b] of bytes.entries()) if (b === 0x0a) ends.push(i + 1);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = fresh();
      copyFileSync(join(dir, AUDIT_FILE), join(d, AUDIT_FILE));
      truncateSync(join(d, AUDIT_FILE), cut);
      // A line cut just before its newline is still a whole entry.
      const whole = ends.filter((e) => e - 1 <= cut).length;
      const torn = cut > 0 && !ends.includes(cut) && !ends.includes(cut + 1) ? 1 : 0;
      const read = await readAudit(d);
      expect(read.entries.map((e) => e.i)).toEqual(Array.from({ length: whole }, (_, i) => i));
      expect(read.skipped).toBe(torn);
      // The agent starts again and appends: the torn line stays apart.
      const again = new AuditFile({ dir: d });
      await again.append({ i: 99 });
      await again.close();
      const after = await readAudit(d);
      expect(after.entries.map((e) => e.i)).toEqual([...Array.from({ length: whole }, (_, i) => i), 99]);
      expect(after.skipped).toBe(torn);
    }
  });

  it("rotates by size, keeps the newest files, and reads them oldest first", async () => {
    const dir = fresh();
    const f = new AuditFile({ dir, maxBytes: 300, keep: 2 });
    for (let i = 0; i < 40; i++) await f.append({ i, pad: "x".repeat(40) });
    await f.close();
    expect(readdirSync(dir).sort()).toEqual([AUDIT_FILE, `${AUDIT_FILE}.1`, `${AUDIT_FILE}.2`]);
    for (const name of readdirSync(dir))
      expect(readFileSync(join(dir, name)).length).toBeLessThanOrEqual(300);
    const { entries } = await readAudit(dir, 2);
    const is = entries.map((e) => e.i as number);
    expect(is.at(-1)).toBe(39);
    expect(is).toEqual(Array.from({ length: is.length }, (_, k) => 40 - is.length + k));
  });

  it("racing appends never interleave; an over-long entry is cut to its identifying fields", async () => {
    const dir = fresh();
    const f = new AuditFile({ dir });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => f.append({ i, rpc: "Hold", big: "y".repeat(i * 10) })),
    );
    await f.append({ rpc: "Hold", admission: "allowed", big: "z".repeat(MAX_LINE) });
    await f.close();
    const { entries, skipped } = await readAudit(dir);
    expect(skipped).toBe(0);
    expect(entries.slice(0, 50).map((e) => e.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(entries[50]).toEqual({ rpc: "Hold", admission: "allowed", cut: true });
  });
});

describe("a symlink planted at the audit log's path", () => {
  it("is neither written through nor read through: the append and the read fail naming it, the target is untouched", async () => {
    const dir = fresh();
    const target = join(dir, "victim");
    writeFileSync(target, '{"secret":"kept"}\n');
    symlinkSync(target, join(dir, AUDIT_FILE));
    const f = new AuditFile({ dir });
    await expect(f.append({ rpc: "Hold" })).rejects.toThrow(
      /audit log .*audit\.jsonl is a symbolic link: not followed/,
    );
    await f.close();
    expect(readFileSync(target, "utf8")).toBe('{"secret":"kept"}\n');
    await expect(readAudit(dir)).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });
});
