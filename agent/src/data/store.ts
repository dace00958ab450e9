import { mkdir, readdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { AgentError } from "../errors.js";
import { writeFileAtomic } from "../files/atomic-file.js";
import type { CommandRunner } from "../system/command.js";
import { firstSymlinkProblem } from "./entry-paths.js";
import { entriesProblem, type NamedEntry } from "./entry-rules.js";
import { exists, FsOps, freeBytes, isExecutable } from "./fs-ops.js";
import { FileStopLog } from "./stop-log.js";
import type {
  DataEntry,
  DataPort,
  DataSnapshot,
  Settlement,
  SnapshotOutcome,
  StopLog,
  UnitControl,
} from "./types.js";

export const dataEntrySchema = z
  .object({
    // Coarse bounds only: entry-rules.ts says what is wrong with a path or unit, naming the entry.
    path: z.string().min(1).max(4096),
    units: z.array(z.string().min(1).max(1000)).max(64).optional(),
  })
  .strict();

export interface DataStoreOptions {
  readonly stateDir: string;
  /** Entries may not touch it (entry-rules.ts), nor the state directory. */
  readonly holdDir: string;
  /** From the agent's config; a system adds its own in `<system>/ros-rollback/data.json`. */
  readonly entries: readonly DataEntry[];
  /** Snapshots of this many confirmed deployments are kept. */
  readonly keep: number;
  readonly migrateTimeoutMs: number;
  /** Free space that must remain after the snapshots. */
  readonly reserveBytes: number;
}

interface Manifest {
  readonly id: string;
  readonly generation: number | undefined;
  /** The generation whose data the snapshots hold. */
  readonly previousGeneration: number | undefined;
  readonly outcome: SnapshotOutcome | "pending";
  readonly at: number;
  readonly snapshots: readonly DataSnapshot[];
}

const bounded = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB (${n} bytes)`;
}

/** Snapshots under `<stateDir>/snapshots/<deployment id>/`, one manifest per deployment. */
export class FsDataStore implements DataPort {
  private readonly root: string;
  private readonly fs: FsOps;
  readonly stops: StopLog;

  constructor(
    private readonly runner: CommandRunner,
    readonly units: UnitControl,
    private readonly o: DataStoreOptions,
  ) {
    this.root = join(o.stateDir, "snapshots");
    this.fs = new FsOps(runner);
    this.stops = new FileStopLog(join(o.stateDir, "data-stops.json"));
  }

  /** The config's entries, already checked at start, with the system's, checked here against them. */
  async entriesFor(systemPath: string): Promise<DataEntry[]> {
    const merged = new Map<string, { units: Set<string>; name: string }>();
    const add = (e: DataEntry, name: string) => {
      const m = merged.get(e.path) ?? { units: new Set<string>(), name };
      for (const u of e.units) m.units.add(u);
      merged.set(e.path, m);
    };
    for (const [i, e] of this.o.entries.entries()) add(e, `data.${i}`);
    const file = join(systemPath, "ros-rollback", "data.json");
    if (!(await exists(file))) return this.o.entries.map((e) => ({ path: e.path, units: [...e.units] }));
    let parsed: z.infer<typeof dataEntrySchema>[];
    try {
      parsed = z
        .array(dataEntrySchema)
        .max(64)
        .parse(JSON.parse(await readFile(file, "utf8")));
    } catch (e) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        bounded(`${file} is not a valid data list: ${(e as Error).message}`),
        {
          cause: e,
        },
      );
    }
    // The same directory in both merges its units; nesting or a forbidden directory is refused.
    for (const [i, e] of parsed.entries())
      add({ path: e.path, units: e.units ?? [] }, `data.json entry ${i}`);
    const named: NamedEntry[] = [...merged].map(([path, m]) => ({ path, units: [...m.units], name: m.name }));
    const places = { stateDir: this.o.stateDir, holdDir: this.o.holdDir };
    const problem = entriesProblem(named, places) ?? (await firstSymlinkProblem(named));
    if (problem !== undefined)
      throw new AgentError("INVALID_ARGUMENT", bounded(`${file}: ${problem}; nothing was changed`, 600));
    return named.map(({ path, units }) => ({ path, units }));
  }

  async plan(deploymentId: string, entries: readonly DataEntry[]): Promise<DataSnapshot[]> {
    if (entries.length === 0) return [];
    const dir = join(this.root, deploymentId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const snapshots: DataSnapshot[] = [];
    let needed = this.o.reserveBytes;
    for (const [i, e] of entries.entries()) {
      const absent = !(await exists(e.path));
      const method = absent ? "copy" : await this.fs.chooseMethod(e.path, dir);
      const sizeBytes = absent ? 0 : await this.fs.diskUsage(e.path);
      // A btrfs snapshot or reflink shares blocks; the changes written later are what they cost.
      if (method === "copy") needed += sizeBytes;
      snapshots.push({
        path: e.path,
        units: e.units,
        method,
        location: join(dir, `${i}-${basename(e.path)}`),
        sizeBytes,
        state: "planned",
        absent,
      });
    }
    const free = await freeBytes(dir);
    if (needed > free) {
      await this.fs.remove(dir);
      throw new AgentError(
        "RESOURCE_EXHAUSTED",
        `not enough free space to snapshot the declared data: need ${mib(needed)} under ${this.root} ` +
          `(${snapshots.map((s) => `${bounded(s.path, 80)} ${s.method} ${mib(s.sizeBytes)}`).join(", ")}; ` +
          `reserve ${mib(this.o.reserveBytes)}), free ${mib(free)}; nothing was changed`,
      );
    }
    await this.writeManifest({
      id: deploymentId,
      generation: undefined,
      previousGeneration: undefined,
      outcome: "pending",
      at: Date.now(),
      snapshots,
    });
    return snapshots;
  }

  async capture(s: DataSnapshot, signal: AbortSignal): Promise<DataSnapshot> {
    if (s.absent) return { ...s, state: "captured" };
    const partial = `${s.location}.partial`;
    // A clone into `.partial` renamed into place: the location exists only when complete.
    if (!(await exists(s.location))) {
      await this.fs.remove(partial);
      await this.fs.clone(s.method, s.path, partial, true, signal);
      await this.fs.rename(partial, s.location);
      await this.fs.syncDir(dirname(s.location));
    }
    return { ...s, state: "captured" };
  }

  async stage(s: DataSnapshot, deploymentId: string, signal: AbortSignal): Promise<void> {
    if (s.absent) return;
    if (!(await exists(s.location)))
      throw new AgentError(
        "NOT_FOUND",
        `the snapshot of ${s.path} is gone (${s.location}); the data was left as it is`,
      );
    const staged = stagedPath(s.path, deploymentId);
    await this.fs.remove(staged);
    await mkdir(dirname(s.path), { recursive: true });
    await this.fs.clone(s.method, s.location, staged, false, signal);
  }

  async swap(s: DataSnapshot, deploymentId: string): Promise<void> {
    const staged = stagedPath(s.path, deploymentId);
    const aside = `${s.path}.rr-aside-${deploymentId}`;
    // Rename-only and redone from what is there: the staged copy gone means it is in place.
    if (s.absent || (await exists(staged))) {
      if (await exists(s.path)) {
        if (await exists(aside)) await this.fs.remove(s.path);
        else await this.fs.rename(s.path, aside);
      }
      if (!s.absent) await this.fs.rename(staged, s.path);
      await this.fs.syncDir(dirname(s.path));
    }
    await this.fs.remove(aside);
  }

  async migrationHook(systemPath: string): Promise<string | undefined> {
    const hook = join(systemPath, "ros-rollback", "migrate");
    return (await isExecutable(hook)) ? hook : undefined;
  }

  async migrate(hook: string, systemPath: string, signal: AbortSignal): Promise<void> {
    const r = await this.runner
      .run([hook], {
        signal,
        timeoutMs: this.o.migrateTimeoutMs,
        env: { ...process.env, ROS_ROLLBACK_SYSTEM: systemPath },
      })
      .catch((e: unknown) => {
        if (e instanceof AgentError && e.code === "TIMEOUT")
          throw new AgentError(
            "TIMEOUT",
            `migration hook ${hook} did not finish within ${this.o.migrateTimeoutMs / 1000} s`,
            {
              cause: e,
            },
          );
        throw e;
      });
    if (r.code !== 0) {
      const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join(" | ");
      throw new AgentError(
        "EXTERNAL_COMMAND_FAILED",
        bounded(`migration hook ${hook} exited ${r.code}: ${tail}`),
      );
    }
  }

  async settle(id: string, how: Settlement): Promise<string[]> {
    const m = await this.readManifest(id);
    // Deleted before any write: a capture that failed may have used up the space a manifest needs.
    if (how.outcome === "discarded") await this.drop({ id, snapshots: how.snapshots ?? m?.snapshots ?? [] });
    else if (m !== undefined)
      await this.writeManifest({
        ...m,
        outcome: how.outcome,
        generation: how.made ?? m.generation,
        previousGeneration: how.previous ?? m.previousGeneration,
        snapshots: how.snapshots ?? m.snapshots,
        at: Date.now(),
      });
    const all = await this.manifests();
    const confirmed = all.filter((x) => x.outcome === "succeeded").sort((a, b) => b.at - a.at);
    const drop = [
      ...all.filter((x) => x.outcome === "restored" || x.outcome === "discarded"),
      ...confirmed.slice(this.o.keep),
    ];
    for (const x of drop) await this.drop(x);
    return [...new Set([...(how.outcome === "discarded" ? [id] : []), ...drop.map((x) => x.id)])];
  }

  private async drop(x: { readonly id: string; readonly snapshots: readonly DataSnapshot[] }): Promise<void> {
    // Snapshot subvolumes inside the directory need their own delete first (a partial copy is a plain one).
    for (const s of x.snapshots) await this.fs.remove(s.location).catch(() => undefined);
    await this.fs.remove(join(this.root, x.id));
  }

  async confirmedFor(
    current: number,
    target: number,
  ): Promise<{ id: string; snapshots: DataSnapshot[] } | undefined> {
    const hit = (await this.manifests())
      .filter((x) => x.outcome === "succeeded" && x.generation === current && x.previousGeneration === target)
      .sort((a, b) => b.at - a.at)[0];
    return hit && { id: hit.id, snapshots: [...hit.snapshots] };
  }

  private async manifests(): Promise<Manifest[]> {
    let ids: string[];
    try {
      ids = await readdir(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    const out: Manifest[] = [];
    for (const id of ids) {
      const m = await this.readManifest(id);
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  private async readManifest(id: string): Promise<Manifest | undefined> {
    try {
      return JSON.parse(await readFile(join(this.root, id, "manifest.json"), "utf8")) as Manifest;
    } catch {
      return undefined;
    }
  }

  private async writeManifest(m: Manifest): Promise<void> {
    const dir = join(this.root, m.id);
    await writeFileAtomic(dir, join(dir, "manifest.json"), `${JSON.stringify(m, null, 2)}\n`);
  }
}

export function stagedPath(path: string, deploymentId: string): string {
  return `${path}.rr-restore-${deploymentId}`;
}
