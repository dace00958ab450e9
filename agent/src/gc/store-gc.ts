import { AgentError } from "../errors.js";
import { type CommandRunner, commandFailed } from "../system/command.js";

export interface StoreGcResult {
  readonly deletedPaths: number;
  readonly freedBytes: number;
}

export interface StoreGcRun {
  /** The transient unit's name (unique per run). */
  readonly unit: string;
  readonly timeoutSeconds: number;
  readonly maxFreedBytes: number | undefined;
}

/** Nix's garbage collection of the store, run where a deployment cannot be slowed by it. */
export interface StoreGc {
  /** Resolves once the collection ended; rejects with its failure (TIMEOUT past timeoutSeconds). */
  collect(run: StoreGcRun): Promise<StoreGcResult>;
  /** Stops a running collection (Nix's GC deletes path by path: stopping it leaves a sound store). */
  stop(unit: string): Promise<void>;
}

/**
 * `nix-store --gc` in its own transient unit: outside the agent's cgroup (a restarted agent
 * does not kill it halfway), at idle CPU and I/O priority (a robot's control loops go first), and
 * bounded by systemd (RuntimeMaxSec=) whatever happens to the agent.
 */
export class SystemdStoreGc implements StoreGc {
  constructor(
    private readonly runner: CommandRunner,
    private readonly nixStore: string,
  ) {}

  async collect(run: StoreGcRun): Promise<StoreGcResult> {
    const argv = gcCommand(this.nixStore, run);
    // The unit's own bound ends it; this one only catches a systemd-run that never returns.
    const r = await this.runner.run(argv, { timeoutMs: (run.timeoutSeconds + 60) * 1000 });
    if (r.code !== 0) {
      // Without --quiet, systemd-run --wait says how the unit ended.
      const timedOut = /Finished with result: timeout/.test(r.stderr);
      const e = commandFailed(argv.slice(-3), r);
      throw timedOut
        ? new AgentError("TIMEOUT", `garbage collection stopped after ${run.timeoutSeconds} s`, { cause: e })
        : e;
    }
    return parseGcSummary(`${r.stdout}\n${r.stderr}`);
  }

  async stop(unit: string): Promise<void> {
    await this.runner.run(["systemctl", "stop", "--", unit], { timeoutMs: 60_000 });
  }
}

export function gcCommand(nixStore: string, run: StoreGcRun): string[] {
  return [
    "systemd-run",
    `--unit=${run.unit}`,
    "--description=ros-rollback: garbage collection of the Nix store",
    "--property=Nice=19",
    "--property=IOSchedulingClass=idle",
    "--property=CPUSchedulingPolicy=idle",
    `--property=RuntimeMaxSec=${run.timeoutSeconds}`,
    "--service-type=exec",
    "--collect",
    "--wait",
    "--pipe",
    "--no-ask-password",
    "--",
    nixStore,
    "--gc",
    ...(run.maxFreedBytes === undefined ? [] : ["--max-freed", String(run.maxFreedBytes)]),
  ];
}

const UNITS: Readonly<Record<string, number>> = {
  bytes: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** `nix-store --gc` ends with "N store paths deleted, X MiB freed". */
export function parseGcSummary(output: string): StoreGcResult {
  const m = /(\d+) store paths? deleted, ([\d.]+) (bytes|KiB|MiB|GiB|TiB) freed/.exec(output);
  if (m === null) return { deletedPaths: 0, freedBytes: 0 };
  const [, paths = "0", amount = "0", unit = "bytes"] = m;
  return { deletedPaths: Number(paths), freedBytes: Math.round(Number(amount) * (UNITS[unit] ?? 1)) };
}
