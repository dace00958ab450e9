import type { CommandResult } from "./command.js";
import { ExitCode, isUserError, UsageError } from "./errors.js";
import { PROGRAM } from "./help.js";
import type { Io } from "./io.js";

/**
 * THE renderer: every byte a command's result or failure puts on stdout or
 * stderr at the end of a run goes through here. With --json, stdout gets
 * exactly one JSON document (the result, or {"error": ...}); humans get text
 * on stdout and one `error:` line on stderr.
 */
export function renderResult(io: Io, json: boolean, result: CommandResult): ExitCode {
  if (json) {
    io.stdout.write(`${JSON.stringify(result.json, null, 2)}\n`);
  } else if (result.human !== "") {
    io.stdout.write(result.human.endsWith("\n") ? result.human : `${result.human}\n`);
  }
  return result.exitCode;
}

export function renderError(io: Io, json: boolean, error: unknown): ExitCode {
  if (isUserError(error)) {
    io.stderr.write(`error: ${error.message}\n`);
    if (error instanceof UsageError) {
      io.stderr.write(
        `Run '${PROGRAM}${error.command === undefined ? "" : ` ${error.command}`} --help' for usage.\n`,
      );
    }
    if (json) {
      io.stdout.write(
        `${JSON.stringify({ error: { message: error.message, exitCode: error.exitCode, ...error.data } }, null, 2)}\n`,
      );
    }
    return error.exitCode;
  }
  io.stderr.write(`${PROGRAM}: internal error — this is a bug, please report it with the trace below.\n`);
  io.stderr.write(`${describeBug(error)}\n`);
  if (json) {
    io.stdout.write(
      `${JSON.stringify({ error: { message: "internal error (bug)", exitCode: ExitCode.Bug } }, null, 2)}\n`,
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
