import { constants } from "node:fs";
import { type FileHandle, open, rename } from "node:fs/promises";
import { join } from "node:path";
import { AgentError } from "../errors.js";

/** One line of the audit log (see entry.ts for what each field holds). */
export type AuditLine = Readonly<Record<string, unknown>>;

export interface AuditFileOptions {
  /** The state directory: the log is `audit.jsonl` there, older ones `audit.jsonl.1` … `.N`. */
  readonly dir: string;
  /** Rotated when the next line would make it larger. */
  readonly maxBytes?: number;
  /** Rotated files kept. */
  readonly keep?: number;
}

export const AUDIT_FILE = "audit.jsonl";
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const DEFAULT_KEEP = 3;
/** A line longer than this is a bug in a summary: cut, never written whole. */
export const MAX_LINE = 8 * 1024;

/**
 * The robot's audit log: JSON lines appended in order, each fsync'd before
 * append() resolves (a refusal or a deployment is on disk before it is
 * answered). A power cut can leave a torn last line; the next open ends it
 * with a newline, so it stays one unreadable line the reader skips and never
 * swallows the next entry.
 */
export class AuditFile {
  private handle: FileHandle | undefined;
  private size = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly maxBytes: number;
  private readonly keep: number;

  constructor(private readonly o: AuditFileOptions) {
    this.maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
    this.keep = o.keep ?? DEFAULT_KEEP;
  }

  get path(): string {
    return join(this.o.dir, AUDIT_FILE);
  }

  /** Appends one entry; resolves once it is on disk. Appends never interleave. */
  append(line: AuditLine): Promise<void> {
    let text = `${JSON.stringify(line)}\n`;
    if (Buffer.byteLength(text) > MAX_LINE) text = `${JSON.stringify({ ...pick(line), cut: true })}\n`;
    const next = this.queue.then(() => this.write(Buffer.from(text)));
    // The chain goes on after a failed write; the caller sees the failure.
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.handle?.close();
    this.handle = undefined;
  }

  private async write(bytes: Buffer): Promise<void> {
    if (this.handle !== undefined && this.size + bytes.length > this.maxBytes && this.size > 0) {
      await this.rotate();
    }
    const h = this.handle ?? (await this.openCurrent());
    await h.write(bytes);
    await h.datasync();
    this.size += bytes.length;
  }

  private async openCurrent(): Promise<FileHandle> {
    const h = await open(this.path, APPEND, 0o600).catch(refuseLink(this.path));
    const { size } = await h.stat();
    this.size = size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      await h.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        // A torn line from a power cut: end it, so it cannot absorb the next entry.
        await h.write("\n");
        await h.datasync();
        this.size += 1;
      }
    }
    this.handle = h;
    return h;
  }

  private async rotate(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    for (let i = this.keep - 1; i >= 1; i--) {
      await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(ignoreMissing);
    }
    await rename(this.path, `${this.path}.1`).catch(ignoreMissing);
  }
}

/** "a+" that does not follow a symlink planted at the path (it would write the log into its target). */
const APPEND = constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;

function refuseLink(path: string): (e: unknown) => never {
  return (e) => {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `the audit log ${path} is a symbolic link: not followed (remove it to let the agent start a new log)`,
        { cause: e },
      );
    }
    throw e;
  };
}

/** A file's text; "" when missing. A symlink in its place is refused, never read through. */
async function readText(path: string): Promise<string> {
  const h = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return refuseLink(path)(e);
  });
  if (h === undefined) return "";
  try {
    return await h.readFile("utf8");
  } finally {
    await h.close();
  }
}

/** The fields that identify an entry, for a line that came out too long. */
function pick(line: AuditLine): AuditLine {
  const { time, rpc, admission, outcome, identity } = line;
  return { time, rpc, admission, outcome, identity };
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
}

/**
 * Every whole entry, oldest first (rotated files, then the current one).
 * Lines that are not a JSON object (a torn tail) are skipped and counted.
 */
export async function readAudit(
  dir: string,
  keep: number = DEFAULT_KEEP,
): Promise<{ entries: AuditLine[]; skipped: number }> {
  const base = join(dir, AUDIT_FILE);
  const files = [...Array.from({ length: keep }, (_, i) => `${base}.${keep - i}`), base];
  const entries: AuditLine[] = [];
  let skipped = 0;
  for (const f of files) {
    const text = await readText(f);
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const parsed = parseLine(line);
      if (parsed === undefined) skipped++;
      else entries.push(parsed);
    }
  }
  return { entries, skipped };
}

function parseLine(line: string): AuditLine | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as AuditLine) : undefined;
  } catch {
    return undefined;
  }
}
