// `ros-rollback status --all` (the bundled CLI) of the simulated fleet, with the CPU each process
// spent on it: where its time goes. A variant sets the CLI's switches (its env): the bench's
// before/after in one run.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { cpuSeconds, parseTime, TIME_FORMAT } from "./cpu.js";

/** One way of running it: a label, and the CLI's environment switches. */
export interface StatusAllVariant {
  readonly label: string;
  readonly env: Readonly<Record<string, string>>;
}

/** This round's before/after: the TLS files stat-ed per robot or once a second, and 8, 16, 32 robots at once. */
export const VARIANTS: readonly StatusAllVariant[] = [
  {
    label: "8 at once, TLS files stat-ed per robot (before)",
    env: { ROS_ROLLBACK_TLS_RESTAT: "every", ROS_ROLLBACK_READ_PARALLEL: "8" },
  },
  { label: "8 at once, TLS files stat-ed once a second", env: { ROS_ROLLBACK_READ_PARALLEL: "8" } },
  { label: "16 at once, stat once a second", env: { ROS_ROLLBACK_READ_PARALLEL: "16" } },
  { label: "32 at once, stat once a second", env: { ROS_ROLLBACK_READ_PARALLEL: "32" } },
];

export interface StatusAllRun {
  label: string;
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
  variant: StatusAllVariant,
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
      env: { ...process.env, ROS_ROLLBACK_RELAY_LEGACY: "off", ...variant.env },
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
