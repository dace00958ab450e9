import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHoldDir } from "./dir.js";
import { holdDirReader } from "./dir-reader.js";
import type { Hold } from "./types.js";

const SECRET = "s3cret-only-root-reads-this";
let tmp = "";
let secretFile = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-holddir-"));
  secretFile = join(tmp, "secret");
  await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

const pairs = (holds: readonly Hold[]) => holds.map((h) => [h.name, h.reason]);
let n = 0;
async function holdDir(): Promise<string> {
  const dir = join(tmp, `d${n++}`);
  await mkdir(dir);
  return dir;
}
/** readHoldDir, failing the test instead of hanging when a read blocks (the FIFO defect). */
function readWithin(dir: string, ms = 3_000): Promise<Hold[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`readHoldDir(${dir}) blocked for ${ms} ms`)), ms);
  });
  return Promise.race([readHoldDir(dir), late]).finally(() => clearTimeout(timer));
}

describe("readHoldDir", () => {
  it("reads one hold per file (first line, bounded), skips dot files; a missing dir holds nothing", async () => {
    const dir = join(tmp, "plain");
    expect(await readHoldDir(dir)).toEqual([]);
    await mkdir(dir);
    await writeFile(join(dir, "mission"), "executing waypoint 3\nmore\n");
    await writeFile(join(dir, "empty"), "");
    await writeFile(join(dir, "long"), "x".repeat(5000));
    await writeFile(join(dir, ".tmp-writing"), "partial");
    const holds = await readWithin(dir);
    expect(holds.map((h) => [h.name, h.source])).toEqual([
      ["empty", "file"],
      ["long", "file"],
      ["mission", "file"],
    ]);
    expect(holds[0]?.reason).toBe("hold file empty");
    expect(holds[1]?.reason.length).toBeLessThanOrEqual(201);
    expect(holds[2]?.reason).toBe("executing waypoint 3");
  });

  it("never follows a symlink: one to a root-only file or /proc/self/environ is a hold naming what it is", async () => {
    const dir = await holdDir();
    await symlink(secretFile, join(dir, "shadow"));
    await symlink("/proc/self/environ", join(dir, "environ"));
    await symlink("loop", join(dir, "loop"));
    await writeFile(join(dir, "mission"), "docking\n");
    const holds = await readWithin(dir);
    expect(pairs(holds)).toEqual([
      ["environ", "symlink (not followed)"],
      ["loop", "symlink (not followed)"],
      ["mission", "docking"],
      ["shadow", "symlink (not followed)"],
    ]);
    expect(JSON.stringify(holds)).not.toContain(SECRET);
    expect(JSON.stringify(holds)).not.toContain("PATH=");
  });

  it("a FIFO, a directory and a socket are holds, read without blocking", async () => {
    const dir = await holdDir();
    execFileSync("mkfifo", [join(dir, "fifo")]);
    await mkdir(join(dir, "sub"));
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, "sock"), resolve));
    try {
      // Four at once: each blocked open took one of libuv's four pool threads.
      const reads = await Promise.all([1, 2, 3, 4, 5].map(() => readWithin(dir)));
      for (const holds of reads) {
        expect(pairs(holds)).toEqual([
          ["fifo", "fifo (not read)"],
          ["sock", "socket (not read)"],
          ["sub", "directory (not read)"],
        ]);
      }
    } finally {
      server.close();
    }
  });

  it("a file the hold group may not read (e.g. a hard link to a 0600 file) holds without its content", async () => {
    const dir = await holdDir();
    await writeFile(join(dir, "private"), `${SECRET}\n`, { mode: 0o600 });
    await writeFile(join(dir, "group"), "group may read\n", { mode: 0o640 });
    await writeFile(join(dir, "other"), "anyone may read\n", { mode: 0o604 });
    // The directory's group is the hold group: a 0640 file of another group is not for it.
    const foreign = join(dir, "foreign");
    await writeFile(foreign, `${SECRET}\n`, { mode: 0o640 });
    execFileSync("chgrp", ["65534", foreign]);
    const holds = await readWithin(dir);
    expect(pairs(holds)).toEqual([
      ["foreign", "file the hold group may not read (not read)"],
      ["group", "group may read"],
      ["other", "anyone may read"],
      ["private", "file the hold group may not read (not read)"],
    ]);
    expect(JSON.stringify(holds)).not.toContain(SECRET);
    await chmod(join(dir, "private"), 0o644);
    expect((await readWithin(dir)).find((h) => h.name === "private")?.reason).toBe(SECRET);
  });

  it("escapes control characters in names and reasons; a name that is not UTF-8 still holds", async () => {
    const dir = await holdDir();
    await writeFile(join(dir, "title\u001b]0;x\u0007"), "\u001b[2J\u001b]0;owned\u0007cleared\u009b\n");
    await writeFile(Buffer.from(`${dir}/bad-\xff-name`, "latin1"), "latin-1 name\n");
    const holds = await readWithin(dir);
    expect(pairs(holds)).toEqual([
      ["bad-\ufffd-name", "latin-1 name"],
      ["title\\u001b]0;x\\u0007", "\\u001b[2J\\u001b]0;owned\\u0007cleared\\u009b"],
    ]);
  });
});

describe("holdDirReader", () => {
  it("shares one read in flight, and a read that does not answer holds the robot", async () => {
    let calls = 0;
    let finish: (h: Hold[]) => void = () => {};
    const read = holdDirReader("/run/holds", 50, () => {
      calls++;
      if (calls > 1) return Promise.resolve([]);
      return new Promise<Hold[]>((resolve) => {
        finish = resolve;
      });
    });
    const answers = await Promise.all(Array.from({ length: 20 }, () => read()));
    expect(calls).toBe(1);
    for (const a of answers)
      expect(pairs(a)).toEqual([["hold-directory", "/run/holds did not answer within 0.05 s"]]);
    // Still the same read until it ends; then a new one.
    await read();
    expect(calls).toBe(1);
    finish([]);
    await new Promise((r) => setImmediate(r));
    expect(await read()).toEqual([]);
    expect(calls).toBe(2);
  });
});
