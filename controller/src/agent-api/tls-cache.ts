import { stat } from "node:fs/promises";

import type { Target } from "../targets/inventory.js";

/**
 * One CLI run's parsed TLS material, by the files it came from. A fleet
 * command connects to every robot with the same few files: reading, checking
 * and parsing them (and building a secure context for the relay) per robot
 * was a third of `status --all`'s CPU through a relay (bench/relay). A file
 * replaced or rewritten (another inode, size or mtime) is read again, so a
 * certificate rotated during a long rollout is picked up at the next connect.
 */
export class TlsCache<T> {
  private readonly entries = new Map<string, Promise<T>>();

  async get(target: Target, make: () => Promise<T>): Promise<T> {
    const files = [target.caFile, target.certFile, target.keyFile, target.relay?.caFile ?? ""];
    const ids = await Promise.all(files.map((f) => (f === "" ? "" : identity(f))));
    const key = JSON.stringify([files, ids]);
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const made = make();
    this.entries.set(key, made);
    // A failure is the user's to see each time (and may be fixed between connects): not kept.
    made.catch(() => this.entries.delete(key));
    return made;
  }
}

/** Which version of a file this is; a missing file has none (make() reports it). */
async function identity(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return "?";
  }
}
