// The command context: what a running command may use (the ports: agent connections, the local
// Nix store, the inventory). It sits above agent-api/, closure/ and targets/ and below the
// commands, so core/ stays free of ports.
import type { AgentApi, ConnectAgent } from "../agent-api.js";
import type { ClosureOps } from "../closure/port.js";
import type { CommandMeta, CommandResult, GlobalArgs, RawArgs } from "../core/command.js";
import type { Io } from "../core/io.js";
import type { Target } from "../targets/inventory.js";
import type { Selection } from "../targets/selection.js";

/** Everything from outside that a command may use; built once in cli.ts (the composition root). */
export interface Deps {
  readonly connect: ConnectAgent;
  readonly closure: ClosureOps;
}

export interface CommandContext {
  readonly io: Io;
  readonly global: GlobalArgs;
  /** The robots named on the command line (multi-target commands). */
  readonly selection: Selection;
  readonly deps: Deps;
  /** Aborted on SIGINT; `signal.reason` is an InterruptedError. */
  readonly signal: AbortSignal;
  /** One human line on stderr (never stdout: stdout is for the result). */
  log(line: string): void;
  /**
   * Resolves --inventory/--target (or `options.target`, a TARGET positional)
   * and opens a NEW mutual-TLS connection (its own TCP connection and TLS
   * handshake, never shared with an earlier one).
   */
  connect(options?: ConnectOverrides): Promise<AgentApi>;
  /** The inventory's targets that `selection` names, in inventory order (--target: in the order given). */
  selectTargets(
    options?: Pick<ConnectOverrides, "inventory"> & {
      /** No --target, --select or --all: every target (instead of a usage error). */
      readonly defaultAll?: boolean;
    },
  ): Promise<readonly Target[]>;
}

export interface ConnectOverrides {
  /** Inventory (a JSON file, or FLAKE#ATTR) instead of --inventory / $ROS_ROLLBACK_INVENTORY. */
  readonly inventory?: string;
  /** Target name instead of --target / $ROS_ROLLBACK_TARGET. */
  readonly target?: string | undefined;
  /** Instead of --connect-timeout. */
  readonly timeoutMs?: number;
  /** Fail at the first failed connection attempt (the caller retries). */
  readonly failFast?: boolean;
  /** Instead of the command's signal (a sub-task that may be stopped early). */
  readonly signal?: AbortSignal;
}

/** A command, as data plus a handler. `A` is the command's validated argument type. */
export interface Command<A> extends CommandMeta {
  /** Validates the raw arguments (throw UsageError). Pure. */
  parse(raw: RawArgs): A;
  run(args: A, ctx: CommandContext): Promise<CommandResult>;
}
/** A command with its argument type erased, so the registry can hold all of them. */
export interface CommandDef extends Omit<Command<unknown>, "parse" | "run"> {
  /** Parses then runs; parse errors surface before any work starts. */
  prepare(raw: RawArgs): (ctx: CommandContext) => Promise<CommandResult>;
}

export function defineCommand<A>(command: Command<A>): CommandDef {
  const { parse, run, ...meta } = command;
  return {
    ...meta,
    prepare(raw) {
      const args = parse(raw);
      return (ctx) => run(args, ctx);
    },
  };
}
