import { UsageError } from "../core/errors.js";

/** Which robots a command is about: --target NAME (repeatable), --select KEY=VALUE (repeatable, AND), or --all. */
export interface Selection {
  /** --target values in order, else $ROS_ROLLBACK_TARGET; empty when none. */
  readonly targets: readonly string[];
  /** --select KEY=VALUE pairs: a target must carry every one of these labels. */
  readonly select: readonly { readonly key: string; readonly value: string }[];
  readonly all: boolean;
}

/** Longest label key or value echoed in messages and accepted at all. */
export const MAX_LABEL_TEXT = 128;

export function parseSelection(
  targets: readonly string[],
  select: readonly string[],
  all: boolean,
  command: string,
): Selection {
  const kinds = [targets.length > 0, select.length > 0, all].filter(Boolean).length;
  if (kinds > 1) throw new UsageError("use one of --target, --select and --all", command);
  for (const t of targets) {
    if (t === "") throw new UsageError("--target: expected a name", command);
  }
  return {
    targets,
    select: select.map((s) => {
      const at = s.indexOf("=");
      const key = at < 0 ? "" : s.slice(0, at);
      const value = at < 0 ? "" : s.slice(at + 1);
      if (key === "" || key.length > MAX_LABEL_TEXT || value.length > MAX_LABEL_TEXT) {
        throw new UsageError(
          `--select: expected KEY=VALUE (each at most ${MAX_LABEL_TEXT} characters), got "${s.slice(0, 2 * MAX_LABEL_TEXT + 1)}"`,
          command,
        );
      }
      return { key, value };
    }),
    all,
  };
}

/** One robot named the way today's commands name it (a single --target, or none). */
export function isSingle(s: Selection): boolean {
  return s.targets.length <= 1 && s.select.length === 0 && !s.all;
}
