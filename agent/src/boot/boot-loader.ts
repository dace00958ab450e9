import { readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { AgentError } from "../errors.js";
import { type CommandRunner, runChecked } from "../system/command.js";
import { generationOfEntryId, type LoaderEntry, parseEntryName } from "./entries.js";

/** The boot loader's view of generations: systemd-boot's entries on the ESP. */
export interface BootLoader {
  /** The entry of generation N (with its tries), if the ESP has one. */
  entryOf(generation: number): Promise<LoaderEntry | undefined>;
  /** The generation the loader booted this time; undefined when the firmware does not say. */
  bootedGeneration(): Promise<number | undefined>;
  /** Marks this boot bad (`systemd-bless-boot bad`): the loader will not pick its entry again. */
  markBad(): Promise<void>;
  /**
   * Gives generation N's entry TRIES when it has no counter (an installer that does not count, as
   * nixos-25.05's); a counted entry is left as it is. The entry as it is now; undefined without one.
   */
  countEntry(generation: number, tries: number): Promise<LoaderEntry | undefined>;
  /** Drops generation N's tries counter (a generation judged without a counted boot); the blessed file name. */
  blessEntry(generation: number): Promise<string | undefined>;
  /** Deletes generation N's entries (idempotent: a power cut may have done it half). */
  removeEntries(generation: number): Promise<void>;
}

/** systemd-boot's vendor GUID: its variables in efivarfs are NAME-GUID. */
const LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

export interface EspBootLoaderOptions {
  /** The EFI system partition's mount point (config boot.esp). */
  readonly esp: string;
  readonly runner: CommandRunner;
  /** efivarfs; a test points it at a directory of its own. */
  readonly efivars?: string;
  /** systemd-bless-boot's path (not on PATH: it lives in systemd's lib directory). */
  readonly blessBoot?: string;
}

export class EspBootLoader implements BootLoader {
  private readonly entriesDir: string;
  private readonly efivars: string;
  private readonly blessBoot: string;

  constructor(private readonly o: EspBootLoaderOptions) {
    this.entriesDir = join(o.esp, "loader", "entries");
    this.efivars = o.efivars ?? "/sys/firmware/efi/efivars";
    this.blessBoot = o.blessBoot ?? "/run/current-system/systemd/lib/systemd/systemd-bless-boot";
  }

  async entryOf(generation: number): Promise<LoaderEntry | undefined> {
    const all = (await this.entries()).filter((e) => e.generation === generation);
    // Two files for one generation only after a cut between writing and renaming: the counted one is what the loader boots.
    return all.find((e) => e.triesLeft !== undefined) ?? all[0];
  }

  async bootedGeneration(): Promise<number | undefined> {
    let raw: Buffer;
    try {
      raw = await readFile(join(this.efivars, `LoaderEntrySelected-${LOADER_GUID}`));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new AgentError("EXTERNAL_COMMAND_FAILED", "cannot read LoaderEntrySelected", { cause: e });
    }
    // 4 bytes of attributes, then the id in UTF-16LE, NUL-terminated.
    const id = raw.subarray(4).toString("utf16le").replace(/\0.*$/s, "");
    return generationOfEntryId(id);
  }

  async markBad(): Promise<void> {
    await runChecked(this.o.runner, [this.blessBoot, "bad"], { timeoutMs: 30_000 });
  }

  async countEntry(generation: number, tries: number): Promise<LoaderEntry | undefined> {
    const entry = await this.entryOf(generation);
    if (entry === undefined || entry.triesLeft !== undefined) return entry;
    const counted = `nixos-generation-${generation}+${tries}.conf`;
    // Atomic: a reset leaves one name or the other, never both (systemd#33504: both is never blessed).
    await rename(join(this.entriesDir, entry.file), join(this.entriesDir, counted));
    return parseEntryName(counted);
  }

  async blessEntry(generation: number): Promise<string | undefined> {
    const entry = await this.entryOf(generation);
    if (entry === undefined) return undefined;
    const blessed = `nixos-generation-${generation}.conf`;
    // rename(2) is atomic: a reset leaves the counted name or the blessed one.
    if (entry.triesLeft !== undefined)
      await rename(join(this.entriesDir, entry.file), join(this.entriesDir, blessed));
    return blessed;
  }

  async removeEntries(generation: number): Promise<void> {
    for (const e of await this.entries()) {
      if (e.generation === generation) await rm(join(this.entriesDir, e.file), { force: true });
    }
  }

  private async entries(): Promise<LoaderEntry[]> {
    let files: string[];
    try {
      files = await readdir(this.entriesDir);
    } catch (e) {
      throw new AgentError("FAILED_PRECONDITION", `cannot read the loader entries in ${this.entriesDir}`, {
        cause: e,
      });
    }
    return files.map(parseEntryName).filter((e): e is LoaderEntry => e !== undefined);
  }
}
