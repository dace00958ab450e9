import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
} from "node:fs";
import { quote } from "./bounded-text.js";

/** Why a NAR could not be produced from the filesystem. */
export type NarDumpErrorCode =
  /** Permission denied (EACCES/EPERM): e.g. a store only the daemon may read. Another reader may succeed. */
  | "UNREADABLE"
  /** A file vanished, changed type or size while it was being read, or another I/O error. */
  | "CHANGED"
  /** Neither a regular file, a directory nor a symlink (Nix refuses these too). */
  | "UNSUPPORTED";

export class NarDumpError extends Error {
  readonly code: NarDumpErrorCode;
  /** The file, directory or symlink it concerns. */
  readonly path: string;

  constructor(code: NarDumpErrorCode, path: Buffer, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NarDumpError";
    this.code = code;
    this.path = path.toString("utf8");
  }
}

export function isNarDumpError(e: unknown): e is NarDumpError {
  return e instanceof NarDumpError;
}

export interface NarDumpOptions {
  /** Largest piece yielded; default 128 KiB. */
  readonly pieceSize?: number;
  /**
   * Size of the buffers file contents are read into (one read fills as much of one as it can);
   * default 64 KiB: below glibc's mmap threshold (128 KiB), so freed buffers are reused from
   * the heap; 1 MiB buffers, each mmapped and page-faulted anew, cost ~0.2 s more CPU per 200 MiB.
   */
  readonly bufferSize?: number;
}

const ZEROS = Buffer.alloc(8);
const MAGIC = "nix-archive-1";
const S_IXUSR = 0o100;

/**
 * Writes NAR bytes into buffers it never reuses (each piece yielded stays
 * valid for its consumer), and hands them out as views of at most
 * `pieceSize` bytes.
 */
class Slabs {
  private slab: Buffer;
  /** Start of what has not been handed out yet. */
  private start = 0;
  pos = 0;
  private readonly ready: Buffer[] = [];

  constructor(
    private readonly pieceSize: number,
    private readonly size: number,
  ) {
    this.slab = Buffer.allocUnsafe(size);
  }

  get buffer(): Buffer {
    return this.slab;
  }

  /** Room for `n` more bytes: a new slab if this one lacks it (what was written goes out as it is, uncopied). */
  room(n: number): void {
    if (this.slab.length - this.pos >= n) return;
    this.hand(this.pos);
    this.slab = Buffer.allocUnsafe(Math.max(this.size, n));
    this.start = this.pos = 0;
  }

  /** Space left in this slab, starting a new one when it is full. */
  space(): number {
    if (this.pos === this.slab.length) {
      this.hand(this.pos);
      this.slab = Buffer.allocUnsafe(this.size);
      this.start = this.pos = 0;
    }
    return this.slab.length - this.pos;
  }

  u64(n: number): void {
    this.room(8);
    this.slab.writeUInt32LE(n % 2 ** 32, this.pos);
    this.slab.writeUInt32LE(Math.floor(n / 2 ** 32), this.pos + 4);
    this.pos += 8;
  }

  pad(n: number): void {
    const pad = (8 - (n % 8)) % 8;
    this.room(pad);
    ZEROS.copy(this.slab, this.pos, 0, pad);
    this.pos += pad;
  }

  /** A NAR string: length, bytes, zero padding. */
  str(s: string | Buffer): void {
    const b = typeof s === "string" ? Buffer.from(s, "latin1") : s;
    this.u64(b.length);
    this.room(b.length);
    b.copy(this.slab, this.pos);
    this.pos += b.length;
    this.pad(b.length);
  }

  /** Whole pieces written so far (all of them with `all`), for the caller to yield. */
  take(all = false): Buffer[] {
    this.hand(all ? this.pos : this.pos - ((this.pos - this.start) % this.pieceSize));
    return this.ready.splice(0);
  }

  private hand(upTo: number): void {
    for (; this.start < upTo; this.start += Math.min(this.pieceSize, upTo - this.start)) {
      this.ready.push(this.slab.subarray(this.start, Math.min(upTo, this.start + this.pieceSize)));
    }
  }
}

const join = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, Buffer.from("/"), name]);
const show = (p: Buffer): string => quote(p.toString("utf8"));

function fsError(e: unknown, doing: string, path: Buffer): NarDumpError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code ?? (e as Error).message;
  return code === "EACCES" || code === "EPERM"
    ? new NarDumpError("UNREADABLE", path, `cannot ${doing} ${show(path)}: ${why}`, { cause: e })
    : new NarDumpError("CHANGED", path, `cannot ${doing} ${show(path)} (changed while being read?): ${why}`, {
        cause: e,
      });
}

function attempt<T>(doing: string, path: Buffer, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fsError(e, doing, path);
  }
}

/**
 * The NAR serialisation of the file, symlink or directory at `path`, as
 * Nix's `dumpPath` writes it (`nix-store --dump`): directory entries sorted
 * by name bytewise, executables by the owner's x bit, 8-byte padding. Read
 * directly from the filesystem; file contents go in large reads into fresh
 * buffers. A file that changes type or size while it is read is a
 * NarDumpError("CHANGED"); callers that know the NAR's hash must still
 * check it (a file's contents can change at the same size).
 */
export async function* dumpNar(path: string, options: NarDumpOptions = {}): AsyncGenerator<Buffer> {
  const out = new Slabs(options.pieceSize ?? 128 * 1024, options.bufferSize ?? 64 * 1024);
  out.str(MAGIC);
  yield* dumpNode(Buffer.from(path), out);
  yield* out.take(true);
}

async function* dumpNode(path: Buffer, out: Slabs): AsyncGenerator<Buffer> {
  const st = attempt("stat", path, () => lstatSync(path));
  out.str("(");
  out.str("type");
  if (st.isFile()) {
    out.str("regular");
    if ((st.mode & S_IXUSR) !== 0) {
      out.str("executable");
      out.str("");
    }
    out.str("contents");
    yield* contents(path, st.size, st.ino, out);
  } else if (st.isSymbolicLink()) {
    out.str("symlink");
    out.str("target");
    out.str(attempt("read the link", path, () => readlinkSync(path, { encoding: "buffer" })));
  } else if (st.isDirectory()) {
    out.str("directory");
    const names = attempt("list", path, () => readdirSync(path, { encoding: "buffer" })).sort(Buffer.compare);
    for (const name of names) {
      out.str("entry");
      out.str("(");
      out.str("name");
      out.str(name);
      out.str("node");
      yield* dumpNode(join(path, name), out);
      out.str(")");
      yield* out.take();
    }
  } else {
    throw new NarDumpError("UNSUPPORTED", path, `${show(path)} is not a file, directory or symlink`);
  }
  out.str(")");
}

async function* contents(path: Buffer, size: number, ino: number, out: Slabs): AsyncGenerator<Buffer> {
  out.u64(size);
  const fd = attempt("open", path, () => openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW));
  try {
    const st = attempt("stat", path, () => fstatSync(fd));
    // Replaced or resized since lstat: its NAR header is already written.
    if (!st.isFile() || st.ino !== ino || st.size !== size) {
      throw new NarDumpError("CHANGED", path, `${show(path)} changed while being read`);
    }
    let left = size;
    while (left > 0) {
      const n = Math.min(left, out.space());
      let got: number;
      try {
        // Synchronous, as Nix reads: from the page cache a read is a fraction of a millisecond,
        // and a thread-pool round trip per read cost more CPU (~0.2 s per 200 MiB).
        got = readSync(fd, out.buffer, out.pos, n, size - left);
      } catch (e) {
        throw fsError(e, "read", path);
      }
      if (got === 0) throw new NarDumpError("CHANGED", path, `${show(path)} shrank while being read`);
      out.pos += got;
      left -= got;
      yield* out.take();
    }
  } finally {
    closeSync(fd);
  }
  out.pad(size);
}
