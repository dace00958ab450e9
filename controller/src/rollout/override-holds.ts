import type { OptionSpec, RawArgs } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { clipName } from "../report/holds.js";

/** The agent's bounds (ActivateRequest.override_holds): checked here first for a one-line usage error. */
export const MAX_OVERRIDES = 32;
export const MAX_OVERRIDE_NAME = 256;
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;

/** deploy's, rollback's and `rollout resume`'s --override-hold. */
export const OVERRIDE_HOLD_OPTION: Readonly<Record<string, OptionSpec>> = {
  "override-hold": {
    type: "string",
    valueName: "NAME",
    multiple: true,
    description: [
      "go ahead although the robot is held by the hold NAME, exactly as `status` or the refusal names it",
      '("mission", "unit:mission.service", "topic:/mission_state"); repeat it for several (names are',
      "never split at commas: a hold file's name may hold one). Any other hold still refuses. For when",
      "a hold cannot go by itself, e.g. a topic condition while the ROS master is down (unknown counts as",
      "held) and the update is the fix. The agent logs every override at warn with your certificate's",
      "name, counts it (holds_overridden_total) and records it with the deployment (`status`).",
      `At most ${MAX_OVERRIDES} names of at most ${MAX_OVERRIDE_NAME} printable characters.`,
    ].join("\n"),
  },
};

/** The --override-hold names, in order, duplicates dropped; a bad one is a usage error. */
export function parseOverrideHolds(raw: RawArgs, command: string): readonly string[] {
  const names = raw.lists?.["override-hold"] ?? [];
  if (names.length > MAX_OVERRIDES) {
    throw new UsageError(`--override-hold: at most ${MAX_OVERRIDES} holds, got ${names.length}`, command);
  }
  for (const name of names) {
    if (name === "" || name.length > MAX_OVERRIDE_NAME || UNPRINTABLE.test(name)) {
      throw new UsageError(
        `--override-hold: ${JSON.stringify(clipName(name))} (${name.length} characters) is not a hold name: ` +
          `1 to ${MAX_OVERRIDE_NAME} printable characters`,
        command,
      );
    }
  }
  return [...new Set(names)];
}
