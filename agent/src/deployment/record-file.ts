import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
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

  async load(): Promise<DeploymentRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    const parsed = JSON.parse(text) as DeploymentRecord;
    if (parsed.version !== 1)
      throw new Error(`${this.file}: unknown record version ${String(parsed.version)}`);
    return parsed;
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

let tmpCounter = 0;

/** A temp name no other write uses, even concurrent ones in this process or another. */
function tmpName(file: string): string {
  tmpCounter += 1;
  return `${file}.tmp-${process.pid}-${tmpCounter}-${randomBytes(4).toString("hex")}`;
}

export async function writeFileAtomic(dir: string, file: string, data: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = tmpName(file);
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
