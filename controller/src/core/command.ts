import type { ExitCode } from "./errors.js";

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

/** A command's description as data, without its handler: what help and argv parsing need. */
export interface CommandMeta {
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
}
