import { GLOBAL_OPTIONS } from "./args.js";
import type { CommandMeta, OptionSpec } from "./command.js";
import { ExitCode } from "./errors.js";

export const PROGRAM = "ros-rollback";

/** The exit-code table shown in every help text (and mirrored in controller/README.md). */
export const EXIT_CODE_HELP: readonly (readonly [ExitCode, string])[] = [
  [
    ExitCode.Ok,
    "success: deployed and confirmed (or kept: --no-magic-rollback), confirmed (confirm), healthy\n" +
      "(health); boot: the boot default, judged after the next boot",
  ],
  [
    ExitCode.Unchanged,
    "nothing changed on the robot: usage error, agent unreachable or TLS failure, request refused\n" +
      "(INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, untrusted paths, ...), or any\n" +
      "failure/interrupt before activation",
  ],
  [
    ExitCode.RolledBack,
    "the deployment failed and the robot is back on the previous generation\n" +
      "(the reason says why: unhealthy and the failing check, not confirmed, activation failed)",
  ],
  [
    ExitCode.Uncertain,
    "the robot's state is uncertain: failed and left in place (FAILED, UNITS_FAILED, ROLLBACK_FAILED),\n" +
      "or the agent could not be reached again (stream broken, interrupted) to learn the final state\n" +
      "within --follow-timeout / the confirm deadline + --reconnect-grace",
  ],
  [
    ExitCode.RebootRequired,
    "the new generation is the boot default but the running system is unchanged until a reboot",
  ],
  [ExitCode.Unhealthy, "health: the agent answered and at least one health check fails"],
  [
    ExitCode.Skipped,
    "several robots: succeeded on every robot it ran on, but some were skipped (unreachable or\n" +
      "refusing; each one's reason is reported). A rollout: 0 every robot succeeded, 2 it failed or\n" +
      "was aborted and every robot it moved is back on its previous generation, 3 any robot uncertain",
  ],
  [ExitCode.Bug, "a bug in ros-rollback (stack trace on stderr)"],
];

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short === undefined ? "    " : `-${spec.short}, `}--${name}${spec.valueName === undefined ? "" : ` ${spec.valueName}`}`;
    return [flag, spec.description] as const;
  });
  return table(rows);
}

function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.flatMap(([left, right]) => {
    const [first = "", ...more] = right.split("\n");
    return [`  ${left.padEnd(width)}  ${first}`, ...more.map((m) => `  ${" ".repeat(width)}  ${m}`)];
  });
}

function exitCodeLines(): string[] {
  return table(EXIT_CODE_HELP.map(([code, text]) => [String(code), text]));
}

export function usageLine(command: CommandMeta): string {
  const positionals = command.positionals
    .map((p) => (p.optional === true ? ` [<${p.name}>]` : ` <${p.name}>`))
    .join("");
  return `${PROGRAM} ${command.name}${positionals} [options]`;
}

export function globalHelp(commands: readonly CommandMeta[]): string {
  return [
    `${PROGRAM} — safe OTA updates for ROS robots on NixOS (controller for the ros-rollback agent)`,
    "",
    "Usage:",
    `  ${PROGRAM} <command> [options]`,
    `  ${PROGRAM} <command> --help`,
    "",
    "Commands:",
    ...table(commands.map((c) => [c.name, c.summary])),
    "",
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "Inventory (relative file paths resolve against the inventory's directory):",
    '  {"targets": {"robot1": {"address": "10.0.0.5:50051", "caFile": "ca.pem",',
    '               "certFile": "controller.pem", "keyFile": "controller.key",',
    '               "serverName": "robot1 (optional: TLS name to verify)"}}}',
    "",
    "Exit codes:",
    ...exitCodeLines(),
    "",
  ].join("\n");
}

export function commandHelp(command: CommandMeta): string {
  const lines = [`Usage: ${usageLine(command)}`, "", command.summary, ""];
  if (command.description !== "") lines.push(command.description, "");
  if (command.positionals.length > 0) {
    lines.push("Arguments:", ...table(command.positionals.map((p) => [`<${p.name}>`, p.description])), "");
  }
  if (Object.keys(command.options).length > 0) lines.push("Options:", ...optionLines(command.options), "");
  lines.push("Global options:", ...optionLines(GLOBAL_OPTIONS), "");
  if (command.examples.length > 0) lines.push("Examples:", ...command.examples.map((e) => `  ${e}`), "");
  lines.push("Exit codes:", ...exitCodeLines(), "");
  return lines.join("\n");
}
