import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpNar, isNarDumpError, type NarDumpOptions } from "./nar-dump.js";

const run = promisify(execFile);
const env = { ...process.env, NIX_CONFIG: "build-users-group =" };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nar-dump-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What Nix itself makes of `path`. */
async function nixDump(path: string): Promise<Buffer> {
  const { stdout } = await run("nix-store", ["--dump", path], {
    env,
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function ours(path: string, options?: NarDumpOptions): Promise<Buffer[]> {
  const pieces: Buffer[] = [];
  for await (const p of dumpNar(path, options)) pieces.push(p);
  return pieces;
}

/** Bytes that differ at every offset, so a misplaced piece shows. */
const pattern = (n: number, seed: number) => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return b;
};

async function tree(name: string): Promise<string> {
  const root = join(dir, name);
  await mkdir(join(root, "sub", "deeper", "deepest"), { recursive: true });
  await mkdir(join(root, "empty-dir"));
  await writeFile(join(root, "empty"), "");
  await writeFile(join(root, "sub", "deeper", "deepest", "leaf"), "leaf\n");
  await writeFile(join(root, "tool"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  // Only the owner's x bit counts for Nix.
  await writeFile(join(root, "group-x-only"), "x", { mode: 0o654 });
  await writeFile(join(root, "seven"), "1234567");
  await writeFile(join(root, "eight"), "12345678");
  await symlink("/nix/store/absolute-target", join(root, "abs-link"));
  await symlink("sub/deeper/deepest/leaf", join(root, "rel-link"));
  await symlink("does-not-exist", join(root, "dangling"));
  await symlink("sub", join(root, "dir-link"));
  // Bytewise order, not the locale's: uppercase first, dots and dashes before letters, UTF-8 last.
  for (const n of [
    "b",
    "B",
    "a",
    "A",
    "Z",
    "_",
    "a.b",
    "a-b",
    "a_b",
    "ab",
    ".hidden",
    "é",
    "Ä",
    "日本",
    "~",
  ]) {
    await writeFile(join(root, "sub", n), n);
  }
  // A name that is not UTF-8 at all.
  await writeFile(
    Buffer.concat([Buffer.from(join(root, "sub")), Buffer.from([0x2f, 0x66, 0xff, 0xfe])]),
    "raw",
  );
  return root;
}

describe("dumpNar", () => {
  it("is byte for byte nix-store --dump on a tree of every kind of entry", async () => {
    const root = await tree("every-kind");
    const pieces = await ours(root);
    expect(Buffer.concat(pieces)).toEqual(await nixDump(root));
    expect(pieces.every((p) => p.length > 0 && p.length <= 128 * 1024)).toBe(true);
  });

  it("is exact across buffer and piece boundaries (big files, odd sizes, tiny buffers)", async () => {
    const root = join(dir, "big");
    await mkdir(root);
    await writeFile(join(root, "a-3MiB-plus-5"), pattern(3 * 1024 * 1024 + 5, 1));
    await writeFile(join(root, "b-exactly-1MiB"), pattern(1024 * 1024, 2));
    await writeFile(join(root, "c-small"), pattern(1000, 3));
    await writeFile(join(root, "d-64KiB-plus-1"), pattern(64 * 1024 + 1, 4), { mode: 0o755 });
    const expected = await nixDump(root);
    for (const options of [
      {},
      { bufferSize: 4096, pieceSize: 1000 },
      { bufferSize: 100_000, pieceSize: 100_000 },
    ]) {
      const pieces = await ours(root, options);
      // Buffer.equals: toEqual walks megabytes element by element.
      expect(Buffer.concat(pieces).equals(expected)).toBe(true);
      const max = options.pieceSize ?? 128 * 1024;
      expect(pieces.every((p) => p.length > 0 && p.length <= max)).toBe(true);
    }
  });

  it.each([
    ["a 0-byte file", async (p: string) => writeFile(p, "")],
    ["an executable", async (p: string) => writeFile(p, "run me", { mode: 0o700 })],
    ["a symlink", async (p: string) => symlink("../elsewhere", p)],
    ["an empty directory", async (p: string) => mkdir(p)],
  ])("dumps %s as the store path itself", async (_what, make) => {
    const path = join(dir, `top-${Math.random().toString(36).slice(2)}`);
    await make(path);
    expect(Buffer.concat(await ours(path))).toEqual(await nixDump(path));
  });

  it("says CHANGED when a file vanishes while the NAR is being read, and closes what it opened", async () => {
    const root = join(dir, "vanish");
    await mkdir(root);
    await writeFile(join(root, "first"), pattern(512 * 1024, 5));
    await writeFile(join(root, "second"), "soon gone");
    const fds = await openFds();
    const it = dumpNar(root, { pieceSize: 1024 });
    expect((await it.next()).done).toBe(false);
    await unlink(join(root, "second"));
    const err = await drain(it);
    expect(isNarDumpError(err) && err.code).toBe("CHANGED");
    expect(String(err)).toContain("second");
    expect(await openFds()).toBe(fds);
  });

  it("closes the file it was reading when its consumer stops early", async () => {
    const file = join(dir, "stopped");
    await writeFile(file, pattern(2 * 1024 * 1024, 7));
    const fds = await openFds();
    const it = dumpNar(file, { pieceSize: 1024 });
    expect((await it.next()).done).toBe(false);
    expect(await openFds()).toBe(fds + 1);
    await it.return(undefined);
    expect(await openFds()).toBe(fds);
  });

  it("says CHANGED when a file shrinks after its size was read", async () => {
    const root = join(dir, "shrink");
    await mkdir(root);
    const file = join(root, "file");
    await writeFile(file, pattern(3 * 1024 * 1024, 6));
    const it = dumpNar(root, { pieceSize: 1024, bufferSize: 4096 });
    expect((await it.next()).done).toBe(false);
    await writeFile(file, "short");
    const err = await drain(it);
    expect(isNarDumpError(err) && err.code).toBe("CHANGED");
  });

  it("refuses a FIFO as Nix does (UNSUPPORTED)", async () => {
    const root = join(dir, "fifo");
    await mkdir(root);
    await run("mkfifo", [join(root, "pipe")]);
    const err = await drain(dumpNar(root));
    expect(isNarDumpError(err) && err.code).toBe("UNSUPPORTED");
    await expect(nixDump(root)).rejects.toThrow(/unsupported type/);
  });

  it("says UNREADABLE for a file its user may not read (another user than root)", async () => {
    const root = join(dir, "unreadable");
    await mkdir(root);
    await writeFile(join(root, "open"), "anyone");
    await writeFile(join(root, "secret"), "root only", { mode: 0o600 });
    await chmod(dir, 0o755);
    const asNobody = (path: string) =>
      run(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "testing", "dump-to-stdout.ts"), path],
        {
          uid: 65534,
          gid: 65534,
          encoding: "buffer",
          cwd: join(import.meta.dirname, "..", ".."),
        },
      );
    const e = await asNobody(root).catch((err: { code: number; stderr: Buffer }) => err);
    expect("code" in e && e.code).toBe(3);
    expect("stderr" in e && e.stderr.toString().trim()).toBe("UNREADABLE");
    // The same user reads what it may, exactly as Nix would.
    await unlink(join(root, "secret"));
    expect((await asNobody(root)).stdout).toEqual(await nixDump(root));
  });
});

const openFds = async () => (await readdir("/proc/self/fd")).length;

async function drain(it: AsyncGenerator<Buffer>): Promise<unknown> {
  try {
    for await (const _ of it);
  } catch (e) {
    return e;
  }
  return undefined;
}
