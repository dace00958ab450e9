// The lab CLI's command line: each command declares its options, node:util parseArgs (strict)
// refuses any other, so a typo (`--cahce`) is a usage error instead of a robot without a cache.

import { type ParseArgsConfig, parseArgs } from "node:util";
import type { LabHoldCondition } from "./config.js";
import { type DiskSizes, parseSize } from "./disks.js";
import { LabError } from "./proc.js";

export class UsageError extends LabError {
  /** The usage of the command that was misused (the overview when there is none). */
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}

export type LabCommand =
  | { readonly kind: "help"; readonly text: string }
  | {
      readonly kind: "up";
      readonly names: string[];
      readonly agent: boolean;
      readonly parallel: number | undefined;
      readonly cache: boolean;
      readonly ssh: boolean;
      readonly nat: boolean;
      readonly vm: boolean;
      readonly holdConditions: LabHoldCondition[];
      readonly disks: DiskSizes;
    }
  | { readonly kind: "cache" | "relay"; readonly action: "up" | "down" }
  | { readonly kind: "down" | "inventory"; readonly names: string[] }
  | { readonly kind: "fail"; readonly name: string; readonly off: boolean; readonly system?: string }
  | { readonly kind: "restart"; readonly name: string; readonly hard: boolean }
  | { readonly kind: "exec"; readonly name: string; readonly stdin: boolean; readonly cmd: string[] }
  | { readonly kind: "wait-agent"; readonly name: string; readonly seconds: number }
  | { readonly kind: "systems"; readonly vm: boolean }
  | { readonly kind: "rootfs" };

type Options = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

interface Spec {
  /** One line: the command and its arguments. */
  readonly usage: string;
  /** What it does and what its options mean (indented lines). */
  readonly help: string;
  readonly options: Options;
  /** `tail`: the words after `--` (exec only: the robot's command line, never our options). */
  readonly build: (
    positionals: string[],
    values: Values,
    usage: string,
    tail: string[] | undefined,
  ) => LabCommand;
}

const SPECS: Readonly<Record<string, Spec>> = {
  up: {
    usage:
      "up NAME… [--no-agent] [--parallel N] [--cache] [--ssh] [--nat] [--hold-topic TOPIC] [--hold-unit UNIT] [--store-size SIZE] [--boot-size SIZE] [--vm]",
    help: `boot the robots (builds the rootfs once), N at a time (default 2);
prints one JSON line per robot, in the order given
  --no-agent          boot without the agent's unit
  --parallel N        boot N robots at a time (1-999)
  --cache             substitute from the lab cache (run cache up first)
  --ssh               sshd, root logs in with the lab's key: see "ssh" in the line
  --nat               behind NAT: nothing connects in, the agent dials out to the lab
                      relay (started if down); "inventory" routes through the relay
  --hold-topic TOPIC  held while TOPIC's latest std_msgs/String is not "idle"
  --hold-unit UNIT    held while UNIT is active
  --store-size SIZE   its /nix on an ext4 disk of SIZE (8M-64G: 600M, 2G), kept until down
  --boot-size SIZE    the robot's /boot likewise
  --vm                a QEMU VM with systemd-boot and sshd (README "VM robots")`,
    options: {
      "no-agent": { type: "boolean" },
      parallel: { type: "string" },
      cache: { type: "boolean" },
      ssh: { type: "boolean" },
      nat: { type: "boolean" },
      vm: { type: "boolean" },
      "hold-topic": { type: "string" },
      "hold-unit": { type: "string" },
      "store-size": { type: "string" },
      "boot-size": { type: "string" },
    },
    build: (pos, v, usage) => ({
      kind: "up",
      names: names(pos, usage),
      agent: v["no-agent"] !== true,
      parallel: positiveInt(str(v.parallel), "--parallel", usage),
      cache: v.cache === true,
      ssh: v.ssh === true,
      nat: v.nat === true,
      vm: v.vm === true,
      holdConditions: holdConditions(str(v["hold-topic"]), str(v["hold-unit"])),
      disks: {
        ...size(str(v["store-size"]), "store", "--store-size", usage),
        ...size(str(v["boot-size"]), "boot", "--boot-size", usage),
      },
    }),
  },
  cache: {
    usage: "cache up|down",
    help: `the lab's binary cache (nginx on the host); up prints {"url", "storeUri", …},
down stops nginx and empties the cache (its key stays)`,
    options: {},
    build: (pos, _v, usage) => {
      const [action, ...extra] = pos;
      if ((action !== "up" && action !== "down") || extra.length > 0)
        throw new UsageError("cache up|down", usage);
      return { kind: "cache", action };
    },
  },
  relay: {
    usage: "relay up|down",
    help: `the lab relay (ros-rollback-relay on the host) that robots up with --nat dial out to;
up prints {"relay", "robotPort", "caFile", …} (starting it unless it runs),
down stops it (its keys stay, so NAT'd robots reconnect when it is up again)`,
    options: {},
    build: (pos, _v, usage) => {
      const [action, ...extra] = pos;
      if ((action !== "up" && action !== "down") || extra.length > 0)
        throw new UsageError("relay up|down", usage);
      return { kind: "relay", action };
    },
  },
  down: {
    usage: "down NAME…",
    help: "stop the robots and delete everything they had",
    options: {},
    build: (pos, _v, usage) => ({ kind: "down", names: names(pos, usage) }),
  },
  inventory: {
    usage: "inventory NAME…",
    help: `one inventory for these robots (running), labels index=K (1-based position)
and parity=odd|even; prints {"inventory","signingKey","targets"}`,
    options: {},
    build: (pos, _v, usage) => ({ kind: "inventory", names: names(pos, usage) }),
  },
  fail: {
    usage: "fail NAME [--system S] [--off]",
    help: `set robot NAME's fail flag: the talker of the flag-* systems falls silent while it exists
  --system S  only the talker of system S
  --off       remove the flag`,
    options: { system: { type: "string" }, off: { type: "boolean" } },
    build: (pos, v, usage) => ({
      kind: "fail",
      name: one(pos, usage),
      off: v.off === true,
      system: str(v.system),
    }),
  },
  restart: {
    usage: "restart NAME [--hard]",
    help: `power robot NAME off and boot it again, keeping its root
  --hard  cut its power (its init and every process killed at once)`,
    options: { hard: { type: "boolean" } },
    build: (pos, v, usage) => ({ kind: "restart", name: one(pos, usage), hard: v.hard === true }),
  },
  exec: {
    usage: "exec NAME [--stdin] -- CMD…",
    help: `run CMD inside robot NAME; exits with CMD's exit code
  --stdin  pass our stdin to it (streamed: an export | import runs at pipe speed)`,
    options: { stdin: { type: "boolean" } },
    build: (pos, v, usage, tail) => {
      const [name, ...cmd] = pos;
      if (tail !== undefined && cmd.length > 0)
        throw new UsageError(`unexpected argument ${bounded(cmd[0] ?? "")}`, usage);
      const robotCmd = tail ?? cmd;
      if (robotCmd.length === 0) throw new UsageError("exec needs a command after --", usage);
      return {
        kind: "exec",
        name: one(name === undefined ? [] : [name], usage),
        stdin: v.stdin === true,
        cmd: robotCmd,
      };
    },
  },
  "wait-agent": {
    usage: "wait-agent NAME [SECONDS]",
    help: "wait until the agent's port accepts connections (default 30 s)",
    options: {},
    build: (pos, _v, usage) => {
      const [name, seconds, ...extra] = pos;
      return {
        kind: "wait-agent",
        name: one(name === undefined ? extra : [name, ...extra], usage),
        seconds: positiveInt(seconds, "SECONDS", usage) ?? 30,
      };
    },
  },
  systems: {
    usage: "systems [--vm]",
    help: `build the fixture systems; prints {"name": "/nix/store/…"}
  --vm   also the VM robots' kernel-* systems, on the VM image's kernel (README "VM robots")`,
    options: { vm: { type: "boolean" } },
    build: (pos, v, usage) => none(pos, { kind: "systems", vm: v.vm === true }, usage),
  },
  rootfs: {
    usage: "rootfs",
    help: "build the cached robot rootfs; prints its path",
    options: {},
    build: (pos, _v, usage) => none(pos, { kind: "rootfs" }, usage),
  },
};

const PREFIX = "usage: npm run lab -- ";
/** Every command's usage line, and how to get its help. */
export const OVERVIEW = `${PREFIX}<command> [--help]\n${Object.values(SPECS)
  .map((s) => `  ${s.usage}`)
  .join("\n")}\n  COMMAND --help            what the command does, its options and what it prints`;

export const commandUsage = (command: string): string =>
  SPECS[command] === undefined ? OVERVIEW : `${PREFIX}${SPECS[command].usage}`;

/** argv (after `npm run lab --`) to a command; throws UsageError, touches nothing. */
export function parse(argv: readonly string[]): LabCommand {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h")
    return { kind: "help", text: OVERVIEW };
  const spec = SPECS[command];
  if (spec === undefined) throw new UsageError(`unknown command ${bounded(command)}`, OVERVIEW);
  const usage = `${PREFIX}${spec.usage}`;
  // exec: what follows `--` is the robot's command line, never our options.
  const sep = command === "exec" ? rest.indexOf("--") : -1;
  const ours = sep === -1 ? rest : rest.slice(0, sep);
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: ours,
      options: { ...spec.options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    // parseArgs' first sentence names the option ("Unknown option '--cahce'"); the rest is advice.
    const message = e instanceof Error ? (e.message.split(". ")[0] ?? e.message) : String(e);
    throw new UsageError(bounded(message), usage);
  }
  if (parsed.values.help === true) return { kind: "help", text: `${usage}\n${indent(spec.help)}` };
  return spec.build(parsed.positionals, parsed.values, usage, sep === -1 ? undefined : rest.slice(sep + 1));
}

/** Input echoed in a message is cut: a pasted blob stays one readable line. */
function bounded(text: string): string {
  const line = text.replace(/[^\x20-\x7e]/g, "?");
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

const indent = (text: string): string =>
  text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");

const str = (v: Values[string]): string | undefined => (typeof v === "string" ? v : undefined);

function names(pos: string[], usage: string): string[] {
  if (pos.length === 0) throw new UsageError("missing robot name", usage);
  if (new Set(pos).size !== pos.length) throw new UsageError("a robot is named twice", usage);
  return pos;
}

function one(pos: string[], usage: string): string {
  const [name, ...extra] = pos;
  if (name === undefined) throw new UsageError("missing robot name", usage);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${bounded(extra[0] ?? "")}`, usage);
  return name;
}

function none(pos: string[], command: LabCommand, usage: string): LabCommand {
  if (pos.length > 0) throw new UsageError(`unexpected argument ${bounded(pos[0] ?? "")}`, usage);
  return command;
}

function positiveInt(text: string | undefined, what: string, usage: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]{0,2}$/.test(text)) throw new UsageError(`${what} wants a whole number 1-999`, usage);
  return Number(text);
}

function size(text: string | undefined, kind: keyof DiskSizes, what: string, usage: string): DiskSizes {
  if (text === undefined) return {};
  const bytes = parseSize(text);
  if (bytes === undefined)
    throw new UsageError(
      `${what} wants MiB or GiB from 8M to 64G, like 600M or 2G, not ${bounded(text)}`,
      usage,
    );
  return { [kind]: bytes };
}

function holdConditions(topic: string | undefined, unit: string | undefined): LabHoldCondition[] {
  return [
    ...(topic === undefined ? [] : [{ kind: "topic" as const, topic, releasedWhen: ["idle"] }]),
    ...(unit === undefined ? [] : [{ kind: "unit" as const, unit }]),
  ];
}
