import type { PositionalSpec } from "../core/command.js";

/** `TARGET` as a positional of the read/confirm commands; it overrides --target. */
export const TARGET_POSITIONAL: PositionalSpec = {
  name: "TARGET",
  description: "target (robot) in the inventory; overrides --target / $ROS_ROLLBACK_TARGET",
  optional: true,
};

/** The name to show: the positional, else --target. */
export function targetName(positional: string | undefined, global: string | undefined): string {
  return positional ?? global ?? "?";
}
