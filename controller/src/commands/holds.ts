import { hasUnprintable } from "@ros-rollback/nix-core";
import { defineCommand } from "../context/command.js";
import { parsePositionals } from "../core/args.js";
import { ExitCode, UsageError } from "../core/errors.js";
import { type HoldJson, holdJson, holdText } from "../report/views.js";
import { TARGET_POSITIONAL, targetName } from "../targets/target-arg.js";

const POSITIONALS = [TARGET_POSITIONAL] as const;
const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90", "90s", "15m", "2h", "1d" → seconds. */
export function parseDuration(text: string, command: string): number {
  const m = /^(\d{1,7})([smhd]?)$/.exec(text);
  const n = m === null ? Number.NaN : Number(m[1]) * (UNITS[m[2] || "s"] ?? 1);
  if (!Number.isSafeInteger(n) || n < 1 || n > 366 * 86400) {
    throw new UsageError(
      `--for: expected a duration like 90s, 15m, 2h or 1d (at most 366d), got "${text.slice(0, 40)}"`,
      command,
    );
  }
  return n;
}

function holdsText(target: string, holds: readonly HoldJson[]): string {
  if (holds.length === 0) return `${target}: not held`;
  return [
    `${target}: held (${holds.length}); deploys and rollbacks are refused`,
    ...holds.map((h) => `  ${holdText(h)}`),
  ].join("\n");
}

export const holdCommand = defineCommand<{
  readonly target: string | undefined;
  readonly name: string;
  readonly reason: string;
  readonly seconds: number | undefined;
}>({
  name: "hold",
  summary: "hold a robot: it refuses deploys and rollbacks until released (or --for expires)",
  description: [
    "Sets a hold on the robot, persisted there (it survives agent restarts and reboots). While any hold",
    "is active (this one, a file in the agent's hold directory, or a configured condition such as a",
    "mission topic that is not idle), the agent refuses Activate and Rollback from controllers with",
    "FAILED_PRECONDITION. The agent's own safety rollbacks (unhealthy, not confirmed) still run.",
    '--json: {"target", "hold": {"name", "source", "reason", "since", "expiresAt"}, "holds": [...]}.',
  ].join("\n"),
  positionals: POSITIONALS,
  options: {
    reason: { type: "string", valueName: "TEXT", description: "why the robot is held (required)" },
    for: {
      type: "string",
      valueName: "DURATION",
      description: "expire after 90s, 15m, 2h, 1d (default: until released)",
    },
    name: {
      type: "string",
      valueName: "NAME",
      description: "the hold's name (default operator); same name replaces",
    },
  },
  examples: ['ros-rollback hold robot1 --reason "demo at 14:00" --for 2h'],
  parse(raw) {
    const [target] = parsePositionals(raw, POSITIONALS, "hold");
    const reason = raw.values.reason;
    if (typeof reason !== "string" || reason.trim() === "")
      throw new UsageError("--reason TEXT is required", "hold");
    // Reasons reach every operator's terminal (status, refusals): one line of printable text.
    if (hasUnprintable(reason))
      throw new UsageError("--reason: one line of printable text (it has a control character)", "hold");
    const dur = raw.values.for;
    const name = raw.values.name;
    return {
      target,
      reason,
      name: typeof name === "string" ? name : "operator",
      seconds: typeof dur === "string" ? parseDuration(dur, "hold") : undefined,
    };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    try {
      const res = await api.hold(
        { name: args.name, reason: args.reason, durationSeconds: args.seconds },
        ctx.signal,
      );
      const holds = res.holds.map(holdJson);
      return {
        exitCode: ExitCode.Ok,
        json: { target, hold: res.hold === undefined ? null : holdJson(res.hold), holds },
        human: holdsText(target, holds),
      };
    } finally {
      api.close();
    }
  },
});

export const releaseCommand = defineCommand<{
  readonly target: string | undefined;
  readonly name: string | undefined;
}>({
  name: "release",
  summary: "remove holds set with `hold` (files and conditions are released where they come from)",
  description: [
    "Removes the hold named --name, or every hold set with `hold`. Prints the holds still active:",
    "hold files and conditions (a mission running) go away only where they come from.",
    '--json: {"target", "released": [names], "holds": [...]}.',
  ].join("\n"),
  positionals: POSITIONALS,
  options: {
    name: {
      type: "string",
      valueName: "NAME",
      description: "release only this hold (default: every hold set with `hold`)",
    },
  },
  examples: ["ros-rollback release robot1", "ros-rollback release robot1 --name demo --json"],
  parse(raw) {
    const [target] = parsePositionals(raw, POSITIONALS, "release");
    const name = raw.values.name;
    return { target, name: typeof name === "string" ? name : undefined };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    try {
      const res = await api.release(args.name, ctx.signal);
      const holds = res.holds.map(holdJson);
      const head = res.released.length === 0 ? "released nothing" : `released ${res.released.join(", ")}`;
      return {
        exitCode: ExitCode.Ok,
        json: { target, released: res.released, holds },
        human: `${head}\n${holdsText(target, holds)}`,
      };
    } finally {
      api.close();
    }
  },
});
