// npm run lab -- <command>. Results on stdout (one JSON line), progress and errors on stderr.
import { buffer } from "node:stream/consumers";
import { cacheDown, cacheUp } from "./cache.js";
import { LabError } from "./proc.js";
import { waitForAgent } from "./reach.js";
import { labDown, labExec, labRestart, labUp } from "./robot.js";
import { ensureRootfs } from "./rootfs.js";
import { buildSystems } from "./systems.js";

const USAGE = `usage: npm run lab -- <command>
  up NAME [--no-agent] [--cache]  boot robot NAME (builds the rootfs once); prints one JSON line
                            (--cache: it substitutes from the lab cache; run cache up first)
  cache up|down             the lab's binary cache (nginx on the host); up prints {"url", "storeUri", …}
  down NAME                 stop robot NAME and delete everything it had
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

async function main(argv: string[], signal: AbortSignal): Promise<number> {
  const [command, name, ...rest] = argv;
  switch (command) {
    case "up":
      print(
        await labUp(need(name, "robot name"), {
          agent: !rest.includes("--no-agent"),
          cache: rest.includes("--cache"),
          signal,
          log,
        }),
      );
      return 0;
    case "cache":
      if (name === "up") print(await cacheUp({ signal }));
      else if (name === "down") await cacheDown({ signal });
      else throw new UsageError("cache up|down");
      return 0;
    case "down":
      await labDown(need(name, "robot name"));
      return 0;
    case "restart":
      print(await labRestart(need(name, "robot name"), { hard: rest.includes("--hard"), signal, log }));
      return 0;
    case "exec": {
      const sep = rest.indexOf("--");
      const cmd = sep === -1 ? rest : rest.slice(sep + 1);
      if (cmd.length === 0) throw new UsageError("exec needs a command after --");
      const input = rest.slice(0, Math.max(sep, 0)).includes("--stdin")
        ? await buffer(process.stdin)
        : undefined;
      const r = await labExec(need(name, "robot name"), cmd, { input, signal, timeoutMs: 3_600_000 });
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
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
