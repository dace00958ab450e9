// A process like the agent for watchdog tests: the real notifier and watchdog (pings every 500 ms,
// probing the pool with an fs.stat as main.ts does), a systemd-notify given as argv[2], and on
// "block N" from stdin, N blocking opens of the FIFOs argv[3]/fifo0… (each holds a pool thread
// until a writer comes).
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ProcessRunner } from "../../system/command.js";
import { systemdNotifier } from "../systemd-notify.js";

const [notify, dir] = process.argv.slice(2);
if (notify === undefined || dir === undefined) throw new Error("usage: watchdog-child NOTIFY DIR");
const env = { PATH: process.env.PATH, NOTIFY_SOCKET: "/run/test-notify", WATCHDOG_USEC: "1000000" };
const log = { warn: (_o: object, msg: string) => console.log(`warn: ${msg}`), debug: () => {} };
const notifier = systemdNotifier({
  env,
  pid: process.pid,
  runner: new ProcessRunner(),
  log,
  command: notify,
});
notifier?.startWatchdog(() => stat(dir));
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = /^block (\d+)$/.exec(line);
  for (let i = 0; i < Number(m?.[1] ?? 0); i++) {
    open(join(dir, `fifo${i}`), "r")
      .then((f) => f.close())
      .catch((e: unknown) => console.log(`open failed: ${String(e)}`));
  }
  console.log("blocking");
});
console.log("ready");
