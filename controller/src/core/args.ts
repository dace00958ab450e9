import { type ParseArgsConfig, parseArgs } from "node:util";
import { parseSelection, type Selection } from "../targets/selection.js";
import type { CommandDef, GlobalArgs, OptionSpec, PositionalSpec, RawArgs } from "./command.js";
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

export type ParsedCommandLine =
  | { readonly kind: "help"; readonly command: CommandDef | undefined }
  | {
      readonly kind: "run";
      readonly command: CommandDef;
      readonly global: GlobalArgs;
      readonly selection: Selection;
      readonly raw: RawArgs;
    };

/**
 * Splits argv into the command and its arguments, then parses global and
 * command options together (they may appear before or after the command).
 * Throws UsageError; never touches the process.
 */
export function parseCommandLine(
  argv: readonly string[],
  commands: readonly CommandDef[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedCommandLine {
  const at = commandIndex(argv);
  const name = at === undefined ? undefined : argv[at];
  if (name === undefined) {
    if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
      return { kind: "help", command: undefined };
    }
    throw new UsageError("missing command");
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    if (name === "help") {
      const about = commands.find((c) => c.name === argv[(at ?? 0) + 1]);
      return { kind: "help", command: about };
    }
    throw new UsageError(`unknown command "${name}"; commands: ${commands.map((c) => c.name).join(", ")}`);
  }
  const rest = argv.filter((_, i) => i !== at);
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [key, spec] of Object.entries({ ...GLOBAL_OPTIONS, ...command.options })) {
    options[key] = {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple === true ? { multiple: true } : {}),
    };
  }
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (e) {
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      throw new UsageError(e.message.split("\n")[0] ?? e.message, command.name);
    }
    throw e;
  }
  if (parsed.values.help === true) return { kind: "help", command };
  const targets = listValue(parsed.values.target);
  const envTarget = nonEmpty(env.ROS_ROLLBACK_TARGET);
  const selection = parseSelection(
    targets.length === 0 &&
      envTarget !== undefined &&
      parsed.values.select === undefined &&
      parsed.values.all !== true
      ? [envTarget]
      : targets,
    listValue(parsed.values.select),
    parsed.values.all === true,
    command.name,
  );
  if (
    command.multiTarget !== true &&
    (selection.targets.length > 1 || selection.select.length > 0 || selection.all)
  ) {
    throw new UsageError("this command takes one target: --target NAME", command.name);
  }
  const global = parseGlobal(parsed.values, env, selection.targets[0], command.name);
  const values: Record<string, string | boolean | undefined> = {};
  const lists: Record<string, readonly string[]> = {};
  for (const [key, spec] of Object.entries(command.options)) {
    const v = parsed.values[key];
    values[key] = Array.isArray(v) ? v[v.length - 1] : v;
    if (spec.multiple === true) lists[key] = listValue(v);
  }
  return { kind: "run", command, global, selection, raw: { values, lists, positionals: parsed.positionals } };
}

function listValue(v: string | boolean | string[] | undefined): string[] {
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

function parseGlobal(
  values: Record<string, string | boolean | string[] | undefined>,
  env: Readonly<Record<string, string | undefined>>,
  target: string | undefined,
  command: string,
): GlobalArgs {
  return {
    json: values.json === true,
    inventory: stringValue(values.inventory) ?? nonEmpty(env.ROS_ROLLBACK_INVENTORY),
    target,
    connectTimeoutMs: secondsOption(values, "connect-timeout", DEFAULT_CONNECT_TIMEOUT_SECONDS, command),
    rpcTimeoutMs: secondsOption(values, "rpc-timeout", DEFAULT_RPC_TIMEOUT_SECONDS, command),
  };
}

/** A positive number of seconds, in ms. */
function secondsOption(
  values: Record<string, string | boolean | string[] | undefined>,
  name: string,
  defaultSeconds: number,
  command: string,
): number {
  const text = stringValue(values[name]);
  if (text === undefined) return defaultSeconds * 1000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(
      `--${name}: expected a positive number of seconds, got ${JSON.stringify(text.slice(0, 40))}`,
      command,
    );
  }
  return Math.round(seconds * 1000);
}

/** Index of the command word: the first token that is neither an option nor a global option's value. */
/** The command word of a command line, found without knowing the commands (so only its module need load). */
export function commandName(argv: readonly string[]): string | undefined {
  const at = commandIndex(argv);
  return at === undefined ? undefined : argv[at];
}

function commandIndex(argv: readonly string[]): number | undefined {
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

function stringValue(v: string | boolean | string[] | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
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
