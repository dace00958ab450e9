import { type CommandRunner, runChecked } from "../system/command.js";
import type { UnitControl } from "./types.js";

/** Stops and starts data writers with systemctl (bounded). */
export class SystemdUnits implements UnitControl {
  constructor(private readonly runner: CommandRunner) {}

  async stop(units: readonly string[], signal: AbortSignal): Promise<void> {
    if (units.length === 0) return;
    await runChecked(this.runner, ["systemctl", "stop", "--", ...units], { signal, timeoutMs: 120_000 });
  }

  async start(units: readonly string[], signal: AbortSignal): Promise<void> {
    if (units.length === 0) return;
    await runChecked(this.runner, ["systemctl", "start", "--", ...units], { signal, timeoutMs: 120_000 });
  }
}
