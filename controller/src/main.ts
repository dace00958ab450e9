import type { AgentApi } from "./agent-api.js";
import { COMMANDS } from "./commands/index.js";
import { parseCommandLine } from "./core/args.js";
import type { CommandContext, Deps, GlobalArgs } from "./core/command.js";
import { type ExitCode, UsageError } from "./core/errors.js";
import { commandHelp, globalHelp } from "./core/help.js";
import type { Io } from "./core/io.js";
import { renderError, renderResult } from "./core/render.js";
import { loadInventory, selectTarget } from "./inventory.js";

/** Deadline of a unary RPC once connected (QueryMissingPaths on a big closure may take a while). */
const UNARY_TIMEOUT_MS = 120_000;

/**
 * Runs one command line to completion and returns the exit code. Touches the
 * process only through `io`, `deps` and `signal`, so tests run it in-process.
 */
export async function main(
  argv: readonly string[],
  io: Io,
  deps: Deps,
  signal: AbortSignal,
): Promise<ExitCode> {
  // Known before parsing succeeds, so even a usage error is one JSON document.
  let json = argv.includes("--json");
  try {
    const parsed = parseCommandLine(argv, COMMANDS, io.env);
    if (parsed.kind === "help") {
      io.stdout.write(parsed.command === undefined ? globalHelp(COMMANDS) : commandHelp(parsed.command));
      return 0;
    }
    json = parsed.global.json;
    const execute = parsed.command.prepare(parsed.raw);
    const result = await execute(createContext(parsed.command.name, parsed.global, io, deps, signal));
    return renderResult(io, json, result);
  } catch (e) {
    return renderError(io, json, e);
  }
}

function createContext(
  command: string,
  global: GlobalArgs,
  io: Io,
  deps: Deps,
  signal: AbortSignal,
): CommandContext {
  return {
    io,
    global,
    deps,
    signal,
    log: (line) => io.stderr.write(`${line}\n`),
    async connect(): Promise<AgentApi> {
      if (global.inventory === undefined) {
        throw new UsageError("--inventory FILE is required (or set ROS_ROLLBACK_INVENTORY)", command);
      }
      if (global.target === undefined) {
        throw new UsageError("--target NAME is required (or set ROS_ROLLBACK_TARGET)", command);
      }
      const inventory = await loadInventory(global.inventory, io.cwd);
      const target = selectTarget(inventory, global.target);
      return deps.connect(
        target,
        { connectTimeoutMs: global.connectTimeoutMs, unaryTimeoutMs: UNARY_TIMEOUT_MS },
        signal,
      );
    },
  };
}
