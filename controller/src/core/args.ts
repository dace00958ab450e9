import type { OptionSpec, PositionalSpec, RawArgs } from "./command.js";
import { UsageError } from "./errors.js";

export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
/** QueryMissingPaths on a big closure may take a while. */
export const DEFAULT_RPC_TIMEOUT_SECONDS = 120;

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  inventory: {
    type: "string",
    valueName: "FILE",
    description: "inventory JSON with the targets (default: $ROS_ROLLBACK_INVENTORY)",
  },
  target: {
    type: "string",
    valueName: "NAME",
    multiple: true,
    description:
      "target (robot) in the inventory (default: $ROS_ROLLBACK_TARGET); repeat it for several\n" +
      "(deploy, rollback, status, generations)",
  },
  select: {
    type: "string",
    valueName: "KEY=VALUE",
    multiple: true,
    description: "every target whose inventory labels include KEY=VALUE (repeatable: all must match)",
  },
  all: { type: "boolean", description: "every target in the inventory" },
  json: {
    type: "boolean",
    description:
      "print exactly one JSON document on stdout (watch: JSON Lines); progress and logs go to stderr",
  },
  "connect-timeout": {
    type: "string",
    valueName: "SECONDS",
    description: `give up when the agent is not reachable within SECONDS (default ${DEFAULT_CONNECT_TIMEOUT_SECONDS})`,
  },
  "rpc-timeout": {
    type: "string",
    valueName: "SECONDS",
    description:
      "give up when the agent does not answer a request (or stops reading a push) within SECONDS " +
      `(default ${DEFAULT_RPC_TIMEOUT_SECONDS})`,
  },
  help: { type: "boolean", short: "h", description: "show help (global, or for the command)" },
};

/** The command word of a command line, found without knowing the commands (so only its module need load). */
export function commandName(argv: readonly string[]): string | undefined {
  const at = commandIndex(argv);
  return at === undefined ? undefined : argv[at];
}

/** Index of the command word: the first token that is neither an option nor a global option's value. */
export function commandIndex(argv: readonly string[]): number | undefined {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? "";
    if (token === "--") return argv[i + 1] === undefined ? undefined : i + 1;
    if (!token.startsWith("-") || token === "-") return i;
    if (token.startsWith("--") && !token.includes("=")) {
      const spec = GLOBAL_OPTIONS[token.slice(2)];
      if (spec?.type === "string") i++;
    }
  }
  return undefined;
}

export function stringValue(v: string | boolean | string[] | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/** For command parsers: exactly the named positionals, or a UsageError. */
export function expectPositionals(raw: RawArgs, names: readonly string[], command: string): string[] {
  if (raw.positionals.length < names.length) {
    throw new UsageError(`missing <${names[raw.positionals.length]}>`, command);
  }
  if (raw.positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${raw.positionals[names.length]}"`, command);
  }
  return [...raw.positionals];
}

/**
 * For command parsers: the command's positionals as declared (trailing ones
 * may be optional: missing ones are undefined), or a UsageError.
 */
export function parsePositionals(
  raw: RawArgs,
  specs: readonly PositionalSpec[],
  command: string,
): (string | undefined)[] {
  const required = specs.filter((p) => p.optional !== true).length;
  if (raw.positionals.length < required) {
    throw new UsageError(`missing <${specs[raw.positionals.length]?.name}>`, command);
  }
  if (raw.positionals.length > specs.length) {
    throw new UsageError(`unexpected argument "${raw.positionals[specs.length]}"`, command);
  }
  return specs.map((_, i) => {
    const v = raw.positionals[i];
    if (v === "") throw new UsageError(`<${specs[i]?.name}> must not be empty`, command);
    return v;
  });
}

/** For command parsers: a string option restricted to `choices`. */
export function choice<T extends string>(
  raw: RawArgs,
  key: string,
  choices: readonly T[],
  fallback: T,
  command: string,
): T {
  const v = raw.values[key];
  if (v === undefined) return fallback;
  const found = choices.find((c) => c === v);
  if (found === undefined) {
    // The value is echoed: bounded, as every input a message shows.
    throw new UsageError(
      `--${key}: expected one of ${choices.join(", ")}, got ${JSON.stringify(String(v).slice(0, 40))}`,
      command,
    );
  }
  return found;
}

/**
 * For command parsers: options that would do nothing in this use of the
 * command are refused, not ignored (a usage error naming the first given).
 */
export function refuseOptions(raw: RawArgs, keys: readonly string[], why: string, command: string): void {
  const given = keys.find((k) => raw.values[k] !== undefined);
  if (given !== undefined) throw new UsageError(`--${given}: ${why}`, command);
}
