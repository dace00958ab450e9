import { AgentError } from "../errors.js";
import type { CommandRunner } from "../system/command.js";
import type { UnitControl } from "./types.js";

/** systemctl's exit status for "unit not loaded" (LSB: program is not installed). */
const NOT_LOADED = 5;

/** Stops and starts data writers with systemctl, one bounded call per unit. */
export class SystemdUnits implements UnitControl {
  constructor(private readonly runner: CommandRunner) {}

  /** A unit that is not loaded (the new system brings it) writes nothing: nothing to stop. */
  async stop(units: readonly string[], signal: AbortSignal): Promise<void> {
    for (const u of units) await this.run("stop", u, signal);
  }

  async start(units: readonly string[], signal: AbortSignal): Promise<void> {
    for (const u of units) await this.run("start", u, signal);
  }

  private async run(verb: "stop" | "start", unit: string, signal: AbortSignal): Promise<void> {
    const r = await this.runner.run(["systemctl", verb, "--", unit], { signal, timeoutMs: 120_000 });
    if (r.code === 0 || (verb === "stop" && r.code === NOT_LOADED)) return;
    const detail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-2).join(" | ").slice(0, 300);
    throw new AgentError(
      "EXTERNAL_COMMAND_FAILED",
      `systemctl ${verb} ${unit.slice(0, 120)} exited ${r.code}: ${detail}`,
    );
  }
}
