import { existsSync } from "node:fs";
import type { CommandRunner } from "../system/command.js";
import { EspBootLoader } from "./boot-loader.js";
import type { BootConfig } from "./config.js";
import type { BootPorts } from "./ports.js";
import { SystemctlPower } from "./power.js";
import { RunDirVerdictFiles } from "./verdict-files.js";

/** The real boot ports when the robot counts boots; undefined otherwise (nothing of it runs). */
export function bootPorts(config: BootConfig, runner: CommandRunner): BootPorts | undefined {
  if (!config.counting) return undefined;
  return {
    loader: new EspBootLoader({ esp: config.esp, runner, blessBoot: blessBootPath() }),
    power: new SystemctlPower(runner),
    verdict: new RunDirVerdictFiles(),
    tries: config.tries,
  };
}

/** NixOS keeps systemd's helpers under the system's systemd package; other distributions in /usr/lib. */
function blessBootPath(): string {
  const nixos = "/run/current-system/systemd/lib/systemd/systemd-bless-boot";
  return existsSync(nixos) ? nixos : "/usr/lib/systemd/systemd-bless-boot";
}
