// `ros-rollback status --all` (the bundled CLI) of the simulated fleet, with the CPU each process
// spent on it: where its time goes. `fast: false` runs it with ROS_ROLLBACK_RELAY_LEGACY=on (a relay
// query before each dial, no TLS resumption: the before of the bench's before/after).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { cpuSeconds, parseTime, TIME_FORMAT } from "./cpu.js";

export interface StatusAllRun {
  fast: boolean;
  seconds: number;
  exitCode: number | null;
  answered: number;
  /** CPU seconds during it: the relay, the simulated robots' process, the CLI. */
  cpu: { relay: number; robots: number; cli: number | undefined };
}

export async function statusAll(
  root: string,
  inventory: string,
  pids: { relay: number; robots: number },
  fast: boolean,
): Promise<StatusAllRun & { stderr: string }> {
  const cpu0 = { relay: cpuSeconds(pids.relay), robots: cpuSeconds(pids.robots) };
  const prof = process.env.BENCH_RELAY_CLI_PROF;
  const t = performance.now();
  const cli = spawn(
    "/usr/bin/time",
    [
      "-f",
      TIME_FORMAT,
      process.execPath,
      ...(prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : []),
      join(root, "controller/dist/bundle/cli.js"),
      ...["status", "--all", "--inventory", inventory, "--json", "--connect-timeout", "30"],
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ROS_ROLLBACK_RELAY_LEGACY: fast ? "off" : "on" },
    },
  );
  let out = "";
  let err = "";
  cli.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  cli.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-2000);
  });
  const [exitCode] = (await once(cli, "exit")) as [number | null];
  const seconds = (performance.now() - t) / 1000;
  return {
    fast,
    seconds,
    exitCode,
    answered: (out.match(/"agentVersion":\s*"test"/g) ?? []).length,
    cpu: {
      relay: cpuSeconds(pids.relay) - cpu0.relay,
      robots: cpuSeconds(pids.robots) - cpu0.robots,
      cli: parseTime(err),
    },
    stderr: err,
  };
}
