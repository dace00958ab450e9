import { z } from "zod";
import { AgentError } from "../errors.js";
import type { SwitchAction } from "../system/switcher.js";

/** Config `boot`: systemd-boot boot counting (see agent/boot/README.md). The NixOS module renders it. */
export const bootConfigSchema = z
  .object({
    /** The loader counts tries of a new generation's entry and the agent's verdict blesses it. */
    counting: z.boolean().optional(),
    /** Mount point of the EFI system partition (default /boot). */
    esp: z.string().startsWith("/").max(4096).optional(),
    /** Tries the agent gives a new entry its installer wrote without a counter (default 3). */
    tries: z.number().int().min(1).max(100).optional(),
  })
  .strict();

export interface BootConfig {
  readonly counting: boolean;
  readonly esp: string;
  readonly tries: number;
}

export const BOOT_COUNTING_OFF: BootConfig = { counting: false, esp: "/boot", tries: 3 };

export function compileBootConfig(raw: z.output<typeof bootConfigSchema> | undefined): BootConfig {
  return {
    counting: raw?.counting ?? false,
    esp: raw?.esp ?? BOOT_COUNTING_OFF.esp,
    tries: raw?.tries ?? BOOT_COUNTING_OFF.tries,
  };
}

/**
 * Refuses a reboot the agent cannot do, before anything changes. Only BOOT and SWITCH end in a
 * reboot (a SWITCH only when its activation exits 100), and only a robot that counts boots can
 * judge one.
 */
export function checkReboot(action: SwitchAction, reboot: boolean, boot: BootConfig): void {
  if (!reboot) return;
  if (action !== "boot" && action !== "switch") {
    throw new AgentError("INVALID_ARGUMENT", `reboot: only with the boot or switch action, not ${action}`);
  }
  if (!boot.counting) {
    throw new AgentError(
      "FAILED_PRECONDITION",
      "reboot: this robot does not count boots (agent config boot.counting is off), so a boot could not be judged",
    );
  }
}
