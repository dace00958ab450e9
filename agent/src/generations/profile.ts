import { lstat, readdir, readlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { AgentError } from "../errors.js";
import { type CommandRunner, runChecked } from "../system/command.js";

export interface Generation {
  readonly number: number;
  readonly storePath: string;
  readonly createdAt: Date;
  readonly current: boolean;
}

/** The system profile (what nix-env -p manages); the boot default follows it. */
export interface SystemProfile {
  list(): Promise<Generation[]>;
  /** The current generation, or undefined when the profile does not exist yet. */
  current(): Promise<Generation | undefined>;
  /** Makes storePath the current generation (a new one unless it already is); returns its number. */
  set(storePath: string, signal?: AbortSignal): Promise<number>;
  switchTo(generation: number, signal?: AbortSignal): Promise<void>;
  delete(generation: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Reads generations straight from the profile's `<name>-<N>-link` symlinks
 * (what nix-env itself reads) and mutates only through nix-env, so Nix's own
 * rules (locking, GC roots) apply.
 */
export class NixProfile implements SystemProfile {
  constructor(
    private readonly path: string,
    private readonly runner: CommandRunner,
    private readonly nixEnv: string,
  ) {}

  async list(): Promise<Generation[]> {
    const dir = dirname(this.path);
    const prefix = `${basename(this.path)}-`;
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    const currentLink = await this.currentLinkName();
    const gens: Generation[] = [];
    for (const entry of entries) {
      if (!entry.startsWith(prefix) || !entry.endsWith("-link")) continue;
      const num = entry.slice(prefix.length, -"-link".length);
      if (!/^\d+$/.test(num)) continue;
      const link = join(dir, entry);
      const [target, st] = await Promise.all([readlink(link), lstat(link)]);
      gens.push({
        number: Number(num),
        storePath: resolve(dir, target),
        createdAt: st.mtime,
        current: entry === currentLink,
      });
    }
    return gens.sort((a, b) => a.number - b.number);
  }

  async current(): Promise<Generation | undefined> {
    return (await this.list()).find((g) => g.current);
  }

  async set(storePath: string, signal?: AbortSignal): Promise<number> {
    const cur = await this.current();
    if (cur?.storePath === storePath) return cur.number;
    await runChecked(this.runner, [this.nixEnv, "-p", this.path, "--set", storePath], { signal });
    const now = await this.current();
    if (now?.storePath !== storePath) {
      throw new AgentError("EXTERNAL_COMMAND_FAILED", `nix-env --set did not make ${storePath} current`);
    }
    return now.number;
  }

  async switchTo(generation: number, signal?: AbortSignal): Promise<void> {
    const gens = await this.list();
    if (!gens.some((g) => g.number === generation)) {
      throw new AgentError("NOT_FOUND", `generation ${generation} does not exist in ${this.path}`);
    }
    await runChecked(this.runner, [this.nixEnv, "-p", this.path, "--switch-generation", String(generation)], {
      signal,
    });
  }

  async delete(generation: number, signal?: AbortSignal): Promise<void> {
    await runChecked(
      this.runner,
      [this.nixEnv, "-p", this.path, "--delete-generations", String(generation)],
      {
        signal,
      },
    );
  }

  private async currentLinkName(): Promise<string | undefined> {
    try {
      return basename(await readlink(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }
}
