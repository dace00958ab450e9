import { terminalText } from "@ros-rollback/nix-core";
import type { CommandResult, JsonOutput } from "./command.js";
import { asUserError, ExitCode, UsageError } from "./errors.js";
import { PROGRAM } from "./help.js";
import type { Io } from "./io.js";

/**
 * THE renderer: every byte a command's result or failure puts on stdout or
 * stderr at the end of a run goes through here. With --json, stdout gets
 * exactly one JSON document (the result, or {"error": ...}); humans get text
 * on stdout and one `error:` line on stderr.
 */
export function renderResult(
  io: Io,
  json: boolean,
  result: CommandResult,
  jsonOutput: JsonOutput = "document",
): ExitCode {
  if (json) {
    io.stdout.write(jsonText(result.json, jsonOutput));
  } else if (result.human !== "") {
    // Human text names what robots and people wrote (hold reasons, errors): never a terminal's escape sequence.
    const human = terminalText(result.human);
    io.stdout.write(human.endsWith("\n") ? human : `${human}\n`);
  }
  return result.exitCode;
}

/** One JSON Lines record (for commands whose --json output is "lines"). */
export function renderJsonLine(io: Io, value: unknown): void {
  io.stdout.write(jsonText(value, "lines"));
}

function jsonText(value: unknown, jsonOutput: JsonOutput): string {
  return `${jsonOutput === "lines" ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`;
}

export function renderError(
  io: Io,
  json: boolean,
  thrown: unknown,
  jsonOutput: JsonOutput = "document",
): ExitCode {
  const error = asUserError(thrown);
  if (error !== undefined) {
    io.stderr.write(`error: ${terminalText(error.message)}\n`);
    if (error instanceof UsageError) {
      io.stderr.write(
        `Run '${PROGRAM}${error.command === undefined ? "" : ` ${error.command}`} --help' for usage.\n`,
      );
    }
    if (json) {
      io.stdout.write(
        jsonText({ error: { message: error.message, exitCode: error.exitCode, ...error.data } }, jsonOutput),
      );
    }
    return error.exitCode;
  }
  io.stderr.write(`${PROGRAM}: internal error — this is a bug, please report it with the trace below.\n`);
  io.stderr.write(`${describeBug(thrown)}\n`);
  if (json) {
    io.stdout.write(
      jsonText({ error: { message: "internal error (bug)", exitCode: ExitCode.Bug } }, jsonOutput),
    );
  }
  return ExitCode.Bug;
}

function describeBug(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(
      current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current),
    );
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) parts.push("caused by:");
  }
  return parts.join("\n");
}
