import { type CommandRunner, runChecked } from "../system/command.js";

/** Reboots the robot. The agent persists its record before calling it. */
export interface Power {
  reboot(): Promise<void>;
}

/** `systemctl reboot`: a clean reboot; systemd stops the agent on the way. */
export class SystemctlPower implements Power {
  constructor(private readonly runner: CommandRunner) {}

  async reboot(): Promise<void> {
    await runChecked(this.runner, ["systemctl", "reboot"], { timeoutMs: 30_000 });
  }
}
