import { stat } from "node:fs/promises";

import type { Target } from "../targets/inventory.js";

/**
 * How long a stat of a TLS file stands for it. A fleet command stat-ed its four
 * files per robot (~0.5 ms of CPU each time, bench/relay); a rotation is still
 * picked up by the connects that start a second after it.
 */
export const RESTAT_MS = 1_000;

/**
 * One CLI run's parsed TLS material, by the files it came from. A fleet
 * command connects to every robot with the same few files: reading, checking
 * and parsing them (and building a secure context for the relay) per robot
 * was a third of `status --all`'s CPU through a relay (bench/relay). A file
 * replaced or rewritten (another inode, size or mtime) is read again, so a
 * certificate rotated during a long rollout is picked up (within RESTAT_MS).
 */
export class TlsCache<T> {
  private readonly entries = new Map<string, Promise<T>>();
  private readonly stats = new Map<string, { at: number; id: Promise<string> }>();

  constructor(
    private readonly now: () => number = Date.now,
    /** 0: every connect stats the files (the bench's before). */
    private readonly restatMs = RESTAT_MS,
  ) {}

  async get(target: Target, make: () => Promise<T>): Promise<T> {
    const files = [target.caFile, target.certFile, target.keyFile, target.relay?.caFile ?? ""];
    const ids = await Promise.all(files.map((f) => (f === "" ? "" : this.identity(f))));
    const key = JSON.stringify([files, ids]);
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const made = make();
    this.entries.set(key, made);
    // A failure is the user's to see each time (and may be fixed between connects): not kept.
    made.catch(() => this.entries.delete(key));
    return made;
  }

  /** The file's version as of at most restatMs ago (robots connecting at once share one stat). */
  private identity(file: string): Promise<string> {
    const t = this.now();
    const seen = this.stats.get(file);
    if (seen !== undefined && t - seen.at < this.restatMs) return seen.id;
    const id = identity(file);
    this.stats.set(file, { at: t, id });
    return id;
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
