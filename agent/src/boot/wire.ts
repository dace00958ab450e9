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
    loader: new EspBootLoader({ esp: config.esp, runner }),
    power: new SystemctlPower(runner),
    verdict: new RunDirVerdictFiles(),
  };
}
