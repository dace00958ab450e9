// npm run lab -- <command>. Results on stdout (one JSON line), progress and errors on stderr.

import { parse, UsageError } from "./args.js";
import { cacheDown, cacheUp } from "./cache.js";
import { labDownMany, labFail, labInventory, labUpMany } from "./fleet-ops.js";
import { LabError } from "./proc.js";
import { waitForAgent } from "./reach.js";
import { relayDown, relayUp } from "./relay.js";
import { labExec, labRestart } from "./robot.js";
import { ensureRootfs } from "./rootfs.js";
import { buildKernelSystems, buildSystems } from "./systems.js";
import { checkVmHost, labVmImage } from "./vm-image.js";

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

async function main(argv: string[], signal: AbortSignal): Promise<number> {
  const command = parse(argv);
  switch (command.kind) {
    case "help":
      process.stdout.write(`${command.text}\n`);
      return 0;
    case "up": {
      const { names, agent, parallel, cache, ssh, nat, vm, holdConditions, disks } = command;
      const started = Date.now();
      if (vm) checkVmHost();
      for (const robot of await labUpMany(names, {
        agent,
        parallel,
        cache,
        ssh,
        nat,
        vm,
        holdConditions,
        disks,
        signal,
        log,
      }))
        print(robot);
      if (names.length > 1)
        log(`lab: ${names.length} robots up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    case "cache":
      if (command.action === "up") print(await cacheUp({ signal }));
      else await cacheDown({ signal });
      return 0;
    case "relay":
      if (command.action === "up") print(await relayUp({ signal, log }));
      else await relayDown();
      return 0;
    case "down":
      await labDownMany(command.names);
      return 0;
    case "inventory":
      print(await labInventory(command.names, { signal }));
      return 0;
    case "fail":
      await labFail(command.name, { off: command.off, system: command.system });
      return 0;
    case "restart":
      print(await labRestart(command.name, { hard: command.hard, signal, log }));
      return 0;
    case "exec": {
      // Streamed both ways: an export | import through here runs at pipe speed.
      const input = command.stdin ? process.stdin : undefined;
      const output = { stdout: process.stdout, stderr: process.stderr };
      const r = await labExec(command.name, command.cmd, { input, output, signal, timeoutMs: 3_600_000 });
      return r.code;
    }
    case "wait-agent":
      await waitForAgent(command.name, { timeoutMs: command.seconds * 1000, signal });
      return 0;
    case "systems":
      print({
        ...(await buildSystems({ signal })),
        ...(command.vm ? await buildKernelSystems(await labVmImage({ signal, log }), { signal }) : {}),
      });
      return 0;
    case "rootfs":
      print(await ensureRootfs({ signal, log }));
      return 0;
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
      log(`lab: ${e.message}\n${e.usage}`);
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
