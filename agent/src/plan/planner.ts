import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { SystemInspector } from "../deployment/ports.js";
import { AgentError } from "../errors.js";
import { type CommandRunner, runChecked } from "../system/command.js";
import { parseSwitchOutput, type UnitChanges } from "../system/unit-changes.js";
import { type ClosureDiff, diffClosures, type SizedPath } from "./closure-diff.js";

export interface Plan {
  readonly currentSystem: string;
  readonly storePath: string;
  readonly units: UnitChanges;
  /** Services of the new system that dry-activate leaves alone. */
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
}

/**
 * What activating a system would do, changing nothing: `switch-to-configuration
 * dry-activate` (which neither sets the profile nor moves a unit) and the
 * closure diff against the running system.
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
    const units = parseSwitchOutput(text);
    const [before, after, services] = await Promise.all([
      this.closure(current, signal),
      this.closure(storePath, signal),
      systemServices(storePath),
    ]);
    const touched = new Set([...units.stopped, ...units.started, ...units.restarted, ...units.reloaded]);
    return {
      currentSystem: current,
      storePath,
      units,
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
