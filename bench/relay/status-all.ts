// `ros-rollback status --all` (the bundled CLI) of the simulated fleet, with the CPU each process
// spent on it: where its time goes. A variant sets the CLI's switches (its env): the bench's
// before/after in one run.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { cpuSeconds, monotonicUs, parseTime, profArgs, TIME_FORMAT } from "./cpu.js";

/** One way of running it: a label, and the CLI's environment switches. */
export interface StatusAllVariant {
  readonly label: string;
  readonly env: Readonly<Record<string, string>>;
}

/** The variants of status --all the suite runs, alternating (none now: a switch goes here for an A/B). */
export const VARIANTS: readonly StatusAllVariant[] = [{ label: "8 at once", env: {} }];

export interface StatusAllRun {
  label: string;
  seconds: number;
  exitCode: number | null;
  answered: number;
  /** When it ran, on the clock of the CPU profiles (bench/relay/prof-top.ts slices them by it). */
  window: [number, number];
  /** CPU seconds during it: the relay, the simulated robots' process, the CLI. */
  cpu: { relay: number; robots: number; cli: number | undefined };
}

export async function statusAll(
  root: string,
  inventory: string,
  pids: { relay: number; robots: number },
  variant: StatusAllVariant,
): Promise<StatusAllRun & { stderr: string }> {
  const cpu0 = { relay: cpuSeconds(pids.relay), robots: cpuSeconds(pids.robots) };
  const t = performance.now();
  const startUs = monotonicUs();
  const cli = spawn(
    "/usr/bin/time",
    [
      "-f",
      TIME_FORMAT,
      process.execPath,
      ...profArgs("cli"),
      join(root, "controller/dist/bundle/cli.js"),
      ...["status", "--all", "--inventory", inventory, "--json", "--connect-timeout", "30"],
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...variant.env },
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
    label: variant.label,
    seconds,
    window: [startUs, monotonicUs()],
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
