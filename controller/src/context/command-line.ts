// The whole command line: the command, the global options, the robot selection and the raw
// command arguments. Here, not in core/, because the selection is the targets' concern.
import { type ParseArgsConfig, parseArgs } from "node:util";
import {
  commandIndex,
  DEFAULT_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_RPC_TIMEOUT_SECONDS,
  GLOBAL_OPTIONS,
  nonEmpty,
  stringValue,
} from "../core/args.js";
import type { GlobalArgs, RawArgs } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { parseSelection, type Selection } from "../targets/selection.js";
import type { CommandDef } from "./command.js";

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
