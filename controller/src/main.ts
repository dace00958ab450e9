import type { AgentApi } from "./agent-api.js";
import { loadCommands } from "./commands/lazy.js";
import type { CommandContext, ConnectOverrides, Deps } from "./context/command.js";
import { parseCommandLine } from "./context/command-line.js";
import { commandName } from "./core/args.js";
import type { GlobalArgs, JsonOutput } from "./core/command.js";
import { type ExitCode, UsageError } from "./core/errors.js";
import { commandHelp, globalHelp } from "./core/help.js";
import type { Io } from "./core/io.js";
import { renderError, renderResult } from "./core/render.js";
import { loadFlakeInventory, parseFlakeRef } from "./targets/flake.js";
import { type Inventory, loadInventory, selectTarget, selectTargets } from "./targets/inventory.js";
import type { Selection } from "./targets/selection.js";

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
  let jsonOutput: JsonOutput = "document";
  try {
    const commands = await loadCommands(commandName(argv));
    const parsed = parseCommandLine(argv, commands, io.env);
    if (parsed.kind === "help") {
      io.stdout.write(parsed.command === undefined ? globalHelp(commands) : commandHelp(parsed.command));
      return 0;
    }
    json = parsed.global.json;
    jsonOutput = parsed.command.jsonOutput ?? "document";
    const execute = parsed.command.prepare(parsed.raw);
    const result = await execute(
      createContext(parsed.command.name, parsed.global, parsed.selection, io, deps, signal),
    );
    return renderResult(io, json, result, jsonOutput);
  } catch (e) {
    return renderError(io, json, e, jsonOutput);
  }
}

function createContext(
  command: string,
  global: GlobalArgs,
  selection: Selection,
  io: Io,
  deps: Deps,
  signal: AbortSignal,
): CommandContext {
  // Read once each: re-attaching after a switch connects many times.
  const inventories = new Map<string, Promise<Inventory>>();
  const inventory = (ref: string): Promise<Inventory> => {
    let loaded = inventories.get(ref);
    if (loaded === undefined) {
      // FLAKE#ATTR (e.g. .#rosRollback.nodes): `nix eval --json`; anything else is a JSON file.
      const flake = parseFlakeRef(ref);
      loaded =
        flake === undefined
          ? loadInventory(ref, io.cwd)
          : loadFlakeInventory(flake, { env: io.env, cwd: io.cwd, signal });
      inventories.set(ref, loaded);
    }
    return loaded;
  };
  const inventoryRef = (override: string | undefined): string => {
    const ref = override ?? global.inventory;
    if (ref === undefined) {
      throw new UsageError("--inventory FILE is required (or set ROS_ROLLBACK_INVENTORY)", command);
    }
    return ref;
  };
  return {
    io,
    global,
    selection,
    deps,
    signal,
    log: (line) => io.stderr.write(`${line}\n`),
    async connect(overrides: ConnectOverrides = {}): Promise<AgentApi> {
      const ref = inventoryRef(overrides.inventory);
      const targetName = overrides.target ?? global.target;
      if (targetName === undefined) {
        throw new UsageError("--target NAME is required (or set ROS_ROLLBACK_TARGET)", command);
      }
      const target = selectTarget(await inventory(ref), targetName);
      return deps.connect(
        target,
        {
          connectTimeoutMs: overrides.timeoutMs ?? global.connectTimeoutMs,
          unaryTimeoutMs: global.rpcTimeoutMs,
          failFast: overrides.failFast === true,
        },
        overrides.signal ?? signal,
      );
    },
    async selectTargets(overrides = {}) {
      const ref = inventoryRef(overrides.inventory);
      const none = selection.targets.length === 0 && selection.select.length === 0 && !selection.all;
      if (none && overrides.defaultAll !== true) {
        throw new UsageError("--target NAME, --select KEY=VALUE or --all is required", command);
      }
      return selectTargets(await inventory(ref), none ? { ...selection, all: true } : selection);
    },
  };
}
