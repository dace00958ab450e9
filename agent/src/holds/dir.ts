import { constants, type Stats } from "node:fs";
import { lstat, open, readdir, stat } from "node:fs/promises";
import { clip, type Hold, MAX_NAME, MAX_REASON } from "./types.js";

/** More files than this is a runaway writer: the rest are counted, not read. */
const MAX_FILES = 100;
/**
 * A symlink is never followed (its target may be a file only root reads), and nothing but a
 * regular file is opened: opening a FIFO blocks a libuv pool thread until a writer comes.
 * O_NONBLOCK covers an entry swapped for a FIFO between lstat and open.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Holds that robot software drops as files: one entry per hold, its name the hold's name. A
 * regular file the hold group may read gives its first line as the reason; every other entry
 * (symlink, directory, FIFO, socket, device, a file the hold group could not read) holds too,
 * its reason saying what it is. A missing directory holds nothing.
 */
export async function readHoldDir(dir: string): Promise<Hold[]> {
  let names: Buffer[];
  let holdGid: number;
  try {
    // The directory is root:<hold group> 1770 (the module's tmpfiles rule): its group is the hold group.
    holdGid = (await stat(dir)).gid;
    // Buffers: a name that is not UTF-8 still names its entry (a string would not lstat).
    names = (await readdir(dir, { encoding: "buffer" })).filter((n) => n[0] !== 0x2e).sort(Buffer.compare);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw e;
  }
  const holds: Hold[] = [];
  const prefix = Buffer.from(dir.endsWith("/") ? dir : `${dir}/`);
  for (const name of names.slice(0, MAX_FILES)) {
    const h = await readOne(Buffer.concat([prefix, name]), name.toString("utf8"), holdGid);
    if (h !== undefined) holds.push(h);
  }
  if (names.length > MAX_FILES) {
    holds.push({
      name: "…",
      source: "file",
      reason: clip(`${names.length - MAX_FILES} more hold files in ${dir}`, MAX_REASON),
      since: 0,
      expiresAt: undefined,
    });
  }
  return holds;
}

/** What an entry that is not read is, as its hold's reason says. */
const NOT_READ = {
  symlink: "symlink (not followed)",
  directory: "directory (not read)",
  fifo: "fifo (not read)",
  socket: "socket (not read)",
  charDevice: "character device (not read)",
  blockDevice: "block device (not read)",
  other: "entry of an unknown kind (not read)",
  forbidden: "file the hold group may not read (not read)",
} as const;
type NotRead = keyof typeof NOT_READ;

function kindOf(st: Stats): NotRead | "file" {
  if (st.isFile()) return "file";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isDirectory()) return "directory";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "charDevice";
  if (st.isBlockDevice()) return "blockDevice";
  return "other";
}

/**
 * Read only what any member of the hold group could read: other-readable, or group-readable by
 * the hold group. The agent may be root (as in the lab) or own root's files (the module's agent
 * is uid 0 without CAP_DAC_OVERRIDE): a hard link to a root-only file would otherwise be read.
 */
function holdGroupMayRead(st: Stats, holdGid: number): boolean {
  return (st.mode & 0o004) !== 0 || (st.gid === holdGid && (st.mode & 0o040) !== 0);
}

async function readOne(path: Buffer, name: string, holdGid: number): Promise<Hold | undefined> {
  const shown = clip(name, MAX_NAME);
  const hold = (reason: string, since: number): Hold => ({
    name: shown,
    source: "file",
    reason: clip(reason, MAX_REASON),
    since,
    expiresAt: undefined,
  });
  /** What `st` is when it is not a regular file the hold group may read. */
  const notRead = (st: Stats): NotRead | undefined => {
    const kind = kindOf(st);
    if (kind !== "file") return kind;
    return holdGroupMayRead(st, holdGid) ? undefined : "forbidden";
  };
  const failed = (e: unknown): Hold | undefined => {
    const code = (e as NodeJS.ErrnoException).code;
    // Removed between readdir and here: released.
    if (code === "ENOENT") return undefined;
    // O_NOFOLLOW met a symlink swapped in after lstat.
    if (code === "ELOOP") return hold(NOT_READ.symlink, 0);
    // Unknown counts as held, and one bad entry must not break every read of the holds.
    return hold(`hold file ${shown} (unreadable: ${clip(code ?? "error", 20)})`, 0);
  };
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (e) {
    return failed(e);
  }
  const before = notRead(st);
  if (before !== undefined) return hold(NOT_READ[before], st.mtimeMs);
  let f: Awaited<ReturnType<typeof open>>;
  try {
    f = await open(path, OPEN_FLAGS);
  } catch (e) {
    return failed(e);
  }
  try {
    const now = await f.stat();
    // Judge what was opened: the entry may have been swapped between lstat and open.
    const after = notRead(now);
    if (after !== undefined) return hold(NOT_READ[after], now.mtimeMs);
    const buf = Buffer.alloc(MAX_REASON * 4);
    const { bytesRead } = await f.read(buf, 0, buf.length, 0);
    const first = buf.subarray(0, bytesRead).toString("utf8").split("\n")[0] ?? "";
    return hold(first.trim() === "" ? `hold file ${shown}` : first, now.mtimeMs);
  } finally {
    await f.close();
  }
}
