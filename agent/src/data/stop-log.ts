import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../files/atomic-file.js";
import type { StopLog } from "./types.js";

/** A robot has a few data writers; the file stays small even if their names change over time. */
const MAX_UNITS = 256;

const fileSchema = z.object({
  version: z.literal(1),
  units: z.record(z.string(), z.object({ ms: z.number().nonnegative(), at: z.number() })),
});

type StopFile = z.infer<typeof fileSchema>;

/**
 * How long each data writer was stopped the last time a deployment captured or restored its
 * data: one JSON file, replaced atomically. It only informs plans, so a missing or damaged file
 * reads as "not known".
 */
export class FileStopLog implements StopLog {
  constructor(
    private readonly file: string,
    private readonly now: () => number = Date.now,
  ) {}

  async record(units: readonly string[], ms: number): Promise<void> {
    if (units.length === 0) return;
    const at = this.now();
    const merged = { ...(await this.read()).units };
    for (const u of units) merged[u] = { ms: Math.round(ms), at };
    const kept = Object.entries(merged)
      .sort(([, a], [, b]) => b.at - a.at)
      .slice(0, MAX_UNITS);
    const out: StopFile = { version: 1, units: Object.fromEntries(kept) };
    await writeFileAtomic(dirname(this.file), this.file, `${JSON.stringify(out)}\n`);
  }

  async last(): Promise<ReadonlyMap<string, number>> {
    const f = await this.read();
    return new Map(Object.entries(f.units).map(([u, s]) => [u, s.ms]));
  }

  private async read(): Promise<StopFile> {
    try {
      return fileSchema.parse(JSON.parse(await readFile(this.file, "utf8")));
    } catch {
      return { version: 1, units: {} };
    }
  }
}
