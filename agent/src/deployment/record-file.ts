import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StartupError } from "../errors.js";
import { writeFileAtomic } from "../files/atomic-file.js";
import type { DeploymentRecord } from "./record.js";

/**
 * For each generation a deployment made current: the generation it replaced.
 * `rollback` without a number follows this, never "one generation down".
 */
export type Lineage = Readonly<Record<string, number>>;

/** Where the deployment record lives. One record: the running or the most recent deployment. */
export interface RecordStore {
  load(): Promise<DeploymentRecord | undefined>;
  save(record: DeploymentRecord): Promise<void>;
  loadLineage(): Promise<Lineage>;
  saveLineage(lineage: Lineage): Promise<void>;
}

/** The recovery is the operator's: the file is kept byte for byte (see README, "Exit codes"). */
function unusableRecord(file: string, why: string, cause?: unknown): StartupError {
  return new StartupError(
    "CONFIG",
    `the deployment record ${file} is unusable: ${why}. It was left as is. Inspect it (it may be an unfinished deployment), ` +
      `then move it aside (mv ${file} ${file}.corrupt-$(date +%s)) and start the agent again; it then starts with no deployment in progress`,
    { cause },
  );
}

/**
 * A JSON file replaced atomically: write a temp file, fsync it, rename over
 * the old one, fsync the directory. A crash leaves the old or the new record,
 * never a torn one.
 */
export class FileRecordStore implements RecordStore {
  private readonly file: string;
  private readonly lineageFile: string;
  /** Writes run one after another, in call order: the last save wins, never an older one. */
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.file = join(dir, "deployment.json");
    this.lineageFile = join(dir, "lineage.json");
  }

  async loadLineage(): Promise<Lineage> {
    try {
      return JSON.parse(await readFile(this.lineageFile, "utf8")) as Lineage;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw e;
    }
  }

  async saveLineage(lineage: Lineage): Promise<void> {
    await this.serialized(() => writeFileAtomic(this.dir, this.lineageFile, `${JSON.stringify(lineage)}\n`));
  }

  /**
   * The record of the last deployment. One that cannot be read or understood
   * stops the start (StartupError): it may be an in-flight deployment's only
   * record, so it is never deleted or replaced here; only an operator moves it.
   */
  async load(): Promise<DeploymentRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new StartupError(
        "CONFIG",
        `cannot read the deployment record ${this.file}: ${(e as Error).message}; fix its type or permissions and start the agent again`,
        { cause: e },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw unusableRecord(this.file, `not JSON (${(e as Error).message})`, e);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw unusableRecord(this.file, "not a JSON object");
    const r = parsed as Partial<Record<keyof DeploymentRecord, unknown>>;
    if (r.version !== 1)
      throw unusableRecord(
        this.file,
        `record version ${String(JSON.stringify(r.version) ?? "missing").slice(0, 40)}, this agent reads 1`,
      );
    if (typeof r.id !== "string" || typeof r.state !== "string")
      throw unusableRecord(this.file, "no deployment id or state");
    return parsed as DeploymentRecord;
  }

  async save(record: DeploymentRecord): Promise<void> {
    await this.serialized(() => writeFileAtomic(this.dir, this.file, `${JSON.stringify(record, null, 2)}\n`));
  }

  private serialized(write: () => Promise<void>): Promise<void> {
    const next = this.writes.then(write);
    this.writes = next.catch(() => undefined);
    return next;
  }
}
