import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { DataPort, StopLog } from "../data/types.js";
import type { SystemInspector } from "../deployment/ports.js";
import { AgentError } from "../errors.js";
import { type CommandRunner, runChecked } from "../system/command.js";
import type { SwitchRunner } from "../system/switcher.js";
import { parseSwitchOutput, type UnitChanges } from "../system/unit-changes.js";
import { type ClosureDiff, diffClosures, type SizedPath } from "./closure-diff.js";
import { type DataInterruption, planDataUnits } from "./data-interruptions.js";

export interface Plan {
  readonly currentSystem: string;
  readonly storePath: string;
  /** As the deployment's report will list them: dry-activate's word and the data step's. */
  readonly units: UnitChanges;
  /** Running data writers the data step stops for the snapshot. */
  readonly interrupted: readonly DataInterruption[];
  /** Services of the new system that the deployment leaves alone. */
  readonly unchanged: readonly string[];
  readonly closure: ClosureDiff;
  readonly exitCode: number;
  /** The last lines of dry-activate when it failed. */
  readonly output: string;
}

export interface PlannerDeps {
  readonly runner: CommandRunner;
  readonly system: Pick<SystemInspector, "assertSystem" | "runningSystem">;
  readonly nixStore: string;
  /** PATH for switch-to-configuration (as the switch unit gets it). */
  readonly pathForSwitch: string;
  readonly timeoutMs: number;
  /** The data entries a deployment would capture, and how long their writers were stopped last. */
  readonly data: Pick<DataPort, "entriesFor"> & { readonly stops: Pick<StopLog, "last"> };
  /** Which services run now (the writers the data step would stop). */
  readonly units: Pick<SwitchRunner, "invocations">;
}

/**
 * What activating a system would do, changing nothing: `switch-to-configuration
 * dry-activate` (which neither sets the profile nor moves a unit), the data
 * writers the data step would stop, and the closure diff against the running system.
 */
export class Planner {
  constructor(private readonly d: PlannerDeps) {}

  async plan(storePath: string, signal: AbortSignal): Promise<Plan> {
    await this.d.system.assertSystem(storePath);
    const current = await this.d.system.runningSystem();
    if (current === undefined) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        "the robot runs no system (/run/current-system is missing)",
      );
    }
    const dry = await this.d.runner.run([`${storePath}/bin/switch-to-configuration`, "dry-activate"], {
      signal,
      timeoutMs: this.d.timeoutMs,
      env: { ...process.env, PATH: this.d.pathForSwitch },
    });
    const text = `${dry.stdout}\n${dry.stderr}`;
    const [before, after, services, entries] = await Promise.all([
      this.closure(current, signal),
      this.closure(storePath, signal),
      systemServices(storePath),
      this.d.data.entriesFor(storePath),
    ]);
    const [running, lastStopped] = entries.some((e) => e.units.length > 0)
      ? await Promise.all([this.d.units.invocations(signal), this.d.data.stops.last()])
      : [{}, new Map<string, number>()];
    const { units, interrupted } = planDataUnits({
      entries,
      running,
      dry: parseSwitchOutput(text),
      services,
      lastStopped,
    });
    const touched = new Set([...units.stopped, ...units.started, ...units.restarted, ...units.reloaded]);
    return {
      currentSystem: current,
      storePath,
      units,
      interrupted,
      unchanged: services.filter((u) => !touched.has(u)),
      closure: diffClosures(before, after),
      exitCode: dry.code,
      output: dry.code === 0 ? "" : text.trim().split("\n").slice(-10).join("\n").slice(-2000),
    };
  }

  private async closure(path: string, signal: AbortSignal): Promise<SizedPath[]> {
    const opts = { signal, timeoutMs: 60_000 };
    const paths = (await runChecked(this.d.runner, [this.d.nixStore, "--query", "--requisites", path], opts))
      .split("\n")
      .filter((l) => l !== "");
    if (paths.length === 0) return [];
    const sizes = (await runChecked(this.d.runner, [this.d.nixStore, "--query", "--size", ...paths], opts))
      .split("\n")
      .filter((l) => l !== "");
    if (sizes.length !== paths.length) {
      throw new AgentError(
        "EXTERNAL_COMMAND_FAILED",
        `nix-store --query --size: ${sizes.length} sizes for ${paths.length} paths`,
      );
    }
    return paths.map((p, i) => ({ path: p, narSize: Number(sizes[i]) }));
  }
}

/** The services a system defines: NixOS's etc/systemd/system, or a lab fixture's units/. */
async function systemServices(system: string): Promise<string[]> {
  for (const dir of [join(system, "etc/systemd/system"), join(system, "units")]) {
    try {
      return (await readdir(dir)).filter((n) => n.endsWith(".service")).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  return [];
}
