// Real ELF files from the host, packed into store-path-sized groups: data zstd can shrink, unlike
// random bytes. Scanning is separate from packing so the packing can be tested on its own.
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

export interface HostFile {
  readonly path: string;
  readonly size: number;
}

/** Where the host keeps its binaries (ROS's Debian packages put their libraries in the first). */
export const BINARY_DIRS: readonly string[] = ["/usr/lib/x86_64-linux-gnu", "/usr/bin", "/usr/lib"];

function isElf(path: string): boolean {
  const head = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    return readSync(fd, head, 0, 4, 0) === 4 && head.toString("latin1") === "\x7fELF";
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Regular ELF files of at most `maxFile` bytes under `dirs` (each inode once), by path, until `limit` bytes. */
export function hostBinaries(dirs: readonly string[], limit: number, maxFile: number): HostFile[] {
  const seen = new Set<string>();
  const out: HostFile[] = [];
  let total = 0;
  const walk = (dir: string): void => {
    const self = statSync(dir, { throwIfNoEntry: false });
    if (self === undefined || seen.has(`d${self.dev}:${self.ino}`)) return;
    seen.add(`d${self.dev}:${self.ino}`);
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of entries) {
      if (total >= limit) return;
      const p = join(dir, name);
      // statSync follows links: a linked directory is walked once, under the first name met.
      const st = statSync(p, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      const key = `f${st.dev}:${st.ino}`;
      if (!st.isFile() || st.size === 0 || st.size > maxFile || seen.has(key) || !isElf(p)) continue;
      seen.add(key);
      out.push({ path: p, size: st.size });
      total += st.size;
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

/**
 * `files` in order into at most `groups` groups of about totalBytes/groups each: a file that would
 * take a non-empty group past the target starts the next group; files larger than 4× the target
 * are skipped so no path dominates. Stops at totalBytes or when the groups are full. No group is
 * empty.
 */
export function packFiles(files: readonly HostFile[], groups: number, totalBytes: number): HostFile[][] {
  const target = Math.max(1, Math.floor(totalBytes / groups));
  const out: HostFile[][] = [];
  let current: HostFile[] = [];
  let size = 0;
  let total = 0;
  for (const f of files) {
    if (f.size > 4 * target) continue;
    if (total >= totalBytes) break;
    if (current.length > 0 && size + f.size > target) {
      out.push(current);
      if (out.length === groups) return out;
      current = [];
      size = 0;
    }
    current.push(f);
    size += f.size;
    total += f.size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
