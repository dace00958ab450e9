import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { clip, type Hold, MAX_NAME, MAX_REASON } from "./types.js";

/** More files than this is a runaway writer: the rest are counted, not read. */
const MAX_FILES = 100;

/**
 * Holds that robot software drops as files: one file per hold, its name the
 * hold's name, its content (first line) the reason. A missing directory holds nothing.
 */
export async function readHoldDir(dir: string): Promise<Hold[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith(".")).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw e;
  }
  const holds: Hold[] = [];
  for (const name of names.slice(0, MAX_FILES)) {
    const h = await readOne(dir, name);
    if (h !== undefined) holds.push(h);
  }
  if (names.length > MAX_FILES) {
    holds.push({
      name: "…",
      source: "file",
      reason: `${names.length - MAX_FILES} more hold files in ${dir}`,
      since: 0,
      expiresAt: undefined,
    });
  }
  return holds;
}

async function readOne(dir: string, name: string): Promise<Hold | undefined> {
  let f: Awaited<ReturnType<typeof open>>;
  try {
    f = await open(join(dir, name), "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Removed between readdir and open: released.
    if (code === "ENOENT") return undefined;
    // Still a hold (unknown counts as held), and one bad file must not break every read of the
    // holds: e.g. another user's 0600 file, which root without CAP_DAC_OVERRIDE (the NixOS
    // module's agent) cannot open.
    const shown = clip(name, MAX_NAME);
    const reason = `hold file ${shown} (unreadable: ${clip(code ?? "error", 20)})`;
    return { name: shown, source: "file", reason, since: 0, expiresAt: undefined };
  }
  try {
    const st = await f.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(MAX_REASON * 4);
    const { bytesRead } = await f.read(buf, 0, buf.length, 0);
    const first = buf.subarray(0, bytesRead).toString("utf8").split("\n")[0] ?? "";
    const reason = first.trim() === "" ? `hold file ${clip(name, MAX_NAME)}` : clip(first, MAX_REASON);
    return { name: clip(name, MAX_NAME), source: "file", reason, since: st.mtimeMs, expiresAt: undefined };
  } finally {
    await f.close();
  }
}
