// npm run lab -- <command>. Results on stdout (one JSON line), progress and errors on stderr.

import { cacheDown, cacheUp } from "./cache.js";
import type { LabHoldCondition } from "./config.js";
import { labDownMany, labFail, labInventory, labUpMany } from "./fleet-ops.js";
import { LabError } from "./proc.js";
import { waitForAgent } from "./reach.js";
import { labExec, labRestart } from "./robot.js";
import { ensureRootfs } from "./rootfs.js";
import { buildSystems } from "./systems.js";

const USAGE = `usage: npm run lab -- <command>
  up NAME… [--no-agent] [--parallel N] [--cache] [--ssh] [--hold-topic TOPIC] [--hold-unit UNIT]
                            boot the robots (builds the rootfs once), N at a time (default 2);
                            prints one JSON line per robot, in the order given
                            (--cache: they substitute from the lab cache; run cache up first;
                            --ssh: sshd, root logs in with the lab's key: see "ssh" in the line;
                            --hold-topic: held while TOPIC's latest std_msgs/String is not "idle";
                            --hold-unit: held while UNIT is active)
  cache up|down             the lab's binary cache (nginx on the host); up prints {"url", "storeUri", …}
  down NAME…                stop the robots and delete everything they had
  inventory NAME…           one inventory for these robots (running), labels index=K (1-based
                            position) and parity=odd|even; prints {"inventory","signingKey","targets"}
  fail NAME [--system S] [--off]
                            set (--off: remove) robot NAME's fail flag: the talker of the flag-*
                            systems (or of system S only) falls silent while it exists
  restart NAME [--hard]     power robot NAME off (--hard: cut its power) and boot it again, keeping its root
  exec NAME [--stdin] -- CMD…  run CMD inside robot NAME (--stdin: pass our stdin to it)
  wait-agent NAME [SECONDS] wait until the agent's port accepts connections
  systems                   build the fixture systems; prints {"name": "/nix/store/…"}
  rootfs                    build the cached robot rootfs; prints its path`;

class UsageError extends LabError {}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

function need(arg: string | undefined, what: string): string {
  if (arg === undefined || arg.startsWith("-")) throw new UsageError(`missing ${what}`);
  return arg;
}

/** Robot names (the arguments up to the first option) and the value of `--flag VALUE`, if any. */
function namesOf(name: string | undefined, rest: string[]): string[] {
  const first = rest.findIndex((a) => a.startsWith("-"));
  const names = [need(name, "robot name"), ...(first === -1 ? rest : rest.slice(0, first))];
  if (new Set(names).size !== names.length) throw new UsageError("a robot is named twice");
  return names;
}

function option(rest: string[], flag: string): string | undefined {
  const i = rest.indexOf(flag);
  return i === -1 ? undefined : need(rest[i + 1], `value of ${flag}`);
}

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]{0,2}$/.test(text)) throw new UsageError(`${flag} wants a whole number 1-999`);
  return Number(text);
}

function holdConditions(rest: string[]): LabHoldCondition[] {
  const topic = option(rest, "--hold-topic");
  const unit = option(rest, "--hold-unit");
  return [
    ...(topic === undefined ? [] : [{ kind: "topic" as const, topic, releasedWhen: ["idle"] }]),
    ...(unit === undefined ? [] : [{ kind: "unit" as const, unit }]),
  ];
}

async function main(argv: string[], signal: AbortSignal): Promise<number> {
  const [command, name, ...rest] = argv;
  switch (command) {
    case "up": {
      const parallel = positiveInt(option(rest, "--parallel"), "--parallel");
      const agent = !rest.includes("--no-agent");
      const started = Date.now();
      const names = namesOf(name, rest);
      for (const robot of await labUpMany(names, {
        agent,
        parallel,
        cache: rest.includes("--cache"),
        holdConditions: holdConditions(rest),
        ssh: rest.includes("--ssh"),
        signal,
        log,
      }))
        print(robot);
      if (names.length > 1)
        log(`lab: ${names.length} robots up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case "cache": {
      if (name === "up") print(await cacheUp({ signal }));
      else if (name === "down") await cacheDown({ signal });
      else throw new UsageError("cache up|down");
      return 0;
    }
    case "down":
      await labDownMany(namesOf(name, rest));
      return 0;
    case "inventory":
      print(await labInventory(namesOf(name, rest), { signal }));
      return 0;
    case "fail":
      await labFail(need(name, "robot name"), {
        off: rest.includes("--off"),
        system: option(rest, "--system"),
      });
      return 0;
    case "restart":
      print(await labRestart(need(name, "robot name"), { hard: rest.includes("--hard"), signal, log }));
      return 0;
    case "exec": {
      const sep = rest.indexOf("--");
      const cmd = sep === -1 ? rest : rest.slice(sep + 1);
      if (cmd.length === 0) throw new UsageError("exec needs a command after --");
      // Streamed both ways: an export | import through here runs at pipe speed.
      const input = rest.slice(0, Math.max(sep, 0)).includes("--stdin") ? process.stdin : undefined;
      const output = { stdout: process.stdout, stderr: process.stderr };
      const r = await labExec(need(name, "robot name"), cmd, { input, output, signal, timeoutMs: 3_600_000 });
      return r.code;
    }
    case "wait-agent":
      await waitForAgent(need(name, "robot name"), { timeoutMs: Number(rest[0] ?? 30) * 1000, signal });
      return 0;
    case "systems":
      print(await buildSystems({ signal }));
      return 0;
    case "rootfs":
      print(await ensureRootfs({ signal, log }));
      return 0;
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

const controller = new AbortController();
process.once("SIGINT", () => controller.abort(new LabError("interrupted")));
process.once("SIGTERM", () => controller.abort(new LabError("terminated")));
main(process.argv.slice(2), controller.signal).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      log(`lab: ${e.message}\n${USAGE}`);
      process.exitCode = 64;
    } else if (e instanceof LabError) {
      log(`lab: ${e.message}`);
      process.exitCode = 1;
    } else {
      log(`lab: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exitCode = 2;
    }
  },
);
