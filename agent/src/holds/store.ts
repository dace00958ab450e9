import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { AgentError } from "../errors.js";
import { hasUnprintable } from "../text/printable.js";
import { clip, type Hold, MAX_NAME, MAX_REASON } from "./types.js";

interface StoredHold {
  readonly name: string;
  readonly reason: string;
  readonly since: number;
  readonly expiresAt: number | undefined;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
/** A year: a longer hold is a mistake, not a plan. */
const MAX_SECONDS = 366 * 24 * 3600;

/**
 * Holds set by `ros-rollback hold`, in a JSON file under the state directory
 * (persistent: they survive agent restarts and reboots). An expired hold is
 * dropped when read. Changes run one after another and replace the file atomically.
 */
export class HoldStore {
  private readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly now: () => number,
  ) {
    this.file = join(dir, "holds.json");
  }

  async list(): Promise<Hold[]> {
    const now = this.now();
    return (await this.read())
      .filter((h) => h.expiresAt === undefined || h.expiresAt > now)
      .map((h) => ({ ...h, source: "command" as const }));
  }

  /** Sets (or replaces) the hold `name`. */
  set(name: string, reason: string, forSeconds: number | undefined): Promise<Hold> {
    if (!NAME.test(name) || name.length > MAX_NAME) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        `invalid hold name "${clip(name, MAX_NAME)}": letters, digits, . _ @ - (at most ${MAX_NAME})`,
      );
    }
    const why = reason.trim();
    if (why === "" || why.length > MAX_REASON) {
      throw new AgentError("INVALID_ARGUMENT", `a hold needs a reason of 1 to ${MAX_REASON} characters`);
    }
    // Reasons reach operators' terminals: a control character there is an escape sequence.
    if (hasUnprintable(why)) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        "a hold's reason must be one line of printable text (it has a control character)",
      );
    }
    if (
      forSeconds !== undefined &&
      (!Number.isInteger(forSeconds) || forSeconds < 1 || forSeconds > MAX_SECONDS)
    ) {
      throw new AgentError("INVALID_ARGUMENT", `a hold's duration must be 1 s to ${MAX_SECONDS} s`);
    }
    return this.serialized(async () => {
      const now = this.now();
      const hold: StoredHold = {
        name,
        reason: why,
        since: now,
        expiresAt: forSeconds === undefined ? undefined : now + forSeconds * 1000,
      };
      const kept = (await this.read()).filter(
        (h) => h.name !== name && (h.expiresAt === undefined || h.expiresAt > now),
      );
      await this.write([...kept, hold]);
      return { ...hold, source: "command" };
    });
  }

  /** Removes the hold `name` (every command hold when undefined); returns the names removed. */
  release(name: string | undefined): Promise<string[]> {
    return this.serialized(async () => {
      const all = await this.read();
      const gone = all.filter((h) => name === undefined || h.name === name);
      if (gone.length > 0) await this.write(all.filter((h) => !gone.includes(h)));
      return gone.map((h) => h.name);
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async read(): Promise<StoredHold[]> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    try {
      const parsed = JSON.parse(text) as { holds?: unknown };
      if (!Array.isArray(parsed.holds)) throw new Error("no holds array");
      return parsed.holds.filter(isStoredHold);
    } catch (e) {
      // A damaged hold file must not free a robot someone held: it holds it, and says why.
      return [
        {
          name: "holds.json",
          reason: `${this.file} is unreadable (${clip((e as Error).message, 80)}); fix or remove it`,
          since: 0,
          expiresAt: undefined,
        },
      ];
    }
  }

  private async write(holds: readonly StoredHold[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    const f = await open(tmp, "w", 0o600);
    try {
      await f.writeFile(`${JSON.stringify({ holds }, null, 1)}\n`);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, this.file);
    const d = await open(this.dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

function isStoredHold(v: unknown): v is StoredHold {
  const h = v as Partial<StoredHold> | null;
  return (
    typeof h === "object" &&
    h !== null &&
    typeof h.name === "string" &&
    typeof h.reason === "string" &&
    typeof h.since === "number" &&
    (h.expiresAt === undefined || typeof h.expiresAt === "number")
  );
}
