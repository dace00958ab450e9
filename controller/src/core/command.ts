import type { AgentApi, ConnectAgent } from "../agent-api.js";
import type { ClosureOps } from "../closure/port.js";
import type { Target } from "../targets/inventory.js";
import type { Selection } from "../targets/selection.js";
import type { ExitCode } from "./errors.js";
import type { Io } from "./io.js";

/** One command-line option, as data: parsing (node:util parseArgs) and help come from it. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly description: string;
  /** Placeholder in help, e.g. "FILE" for `--inventory FILE`. */
  readonly valueName?: string;
  readonly short?: string;
  /** May be given several times (a string option: every value, in order). */
  readonly multiple?: boolean;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  /** May be left out (only trailing positionals). */
  readonly optional?: boolean;
}

/** What parseArgs returned for the command's options and positionals, not yet validated. */
export interface RawArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  /** Every value of a `multiple` option, in order (`values` keeps only the last). */
  readonly lists?: Readonly<Record<string, readonly string[]>>;
  readonly positionals: readonly string[];
}

/** Options every command accepts (parsed before the command's own). */
export interface GlobalArgs {
  readonly json: boolean;
  readonly inventory: string | undefined;
  readonly target: string | undefined;
  readonly connectTimeoutMs: number;
  /** Deadline of each unary request (--rpc-timeout). */
  readonly rpcTimeoutMs: number;
}

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

/** What a command hands the renderer: the JSON document and the human text are two views of one result. */
export interface CommandResult {
  readonly exitCode: ExitCode;
  readonly json: unknown;
  /** Printed on stdout without --json (may be empty). */
  readonly human: string;
}

/** How a command's --json output is shaped. */
export type JsonOutput =
  /** Exactly one (pretty-printed) JSON document on stdout. */
  | "document"
  /** JSON Lines: the command writes one compact object per line while it runs; the result is the last line. */
  | "lines";

/** A command, as data plus a handler. `A` is the command's validated argument type. */
export interface Command<A> {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Paragraphs for `<command> --help`. */
  readonly description: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** Default "document". */
  readonly jsonOutput?: JsonOutput;
  /** Accepts several robots (--target repeated, --select, --all); others take one. */
  readonly multiTarget?: boolean;
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
