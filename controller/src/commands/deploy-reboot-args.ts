import type { RawArgs } from "../core/command.js";
import { UsageError } from "../core/errors.js";

/**
 * A failed generation with two tries costs three boots (two of it, one back) plus the health window
 * and the confirm deadline; a real robot's firmware alone may take a minute or two per boot.
 */
export const DEFAULT_REBOOT_TIMEOUT_SECONDS = 1200;

/** deploy's --reboot options (with --action boot or switch). */
export const REBOOT_OPTIONS = {
  reboot: {
    type: "boolean",
    description:
      "with --action boot, or a switch whose activation exits 100 (reboot required): the agent\n" +
      "reboots the robot and judges the new generation after the boot (the agent needs boot.counting)",
  },
  "reboot-timeout": {
    type: "string",
    valueName: "SECONDS",
    description:
      "with --reboot: keep reconnecting and following the deployment across the reboot(s) this long\n" +
      `(default ${DEFAULT_REBOOT_TIMEOUT_SECONDS}: a failing generation boots up to three times)`,
  },
} as const;

/** --reboot and --reboot-timeout: the follow bound in ms across the reboot, or undefined without --reboot. */
export function parseReboot(raw: RawArgs, action: string): number | undefined {
  const timeout = raw.values["reboot-timeout"];
  if (raw.values.reboot !== true) {
    if (timeout !== undefined) throw new UsageError("--reboot-timeout: only with --reboot", "deploy");
    return undefined;
  }
  // A switch reboots only when its activation exits 100; test and dry-activate never change the boot.
  if (action !== "boot" && action !== "switch") {
    throw new UsageError(`--reboot: only with --action boot or switch, not ${action}`, "deploy");
  }
  if (typeof timeout !== "string") return DEFAULT_REBOOT_TIMEOUT_SECONDS * 1000;
  const n = Number(timeout);
  if (!/^\d+$/.test(timeout) || !Number.isSafeInteger(n) || n < 1 || n > 86_400) {
    throw new UsageError(
      `--reboot-timeout: expected whole seconds (1 to 86400), got "${timeout.slice(0, 40)}"`,
      "deploy",
    );
  }
  return n * 1000;
}
