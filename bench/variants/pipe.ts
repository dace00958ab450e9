// `nix-store --export | nix-store --import` into the robot through nsenter, as ONE shell pipeline
// on the host: no network and no relay of ours (a Node process copying stdin costs ~20 %), the
// fastest a stream of the closure can go on this machine.
import { run } from "../../integration-tests/lab/proc.js";

// The robot's environment for nix (labExec's, without its stdin relay).
const ROBOT_ENV = [
  "env",
  "-i",
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "'NIX_CONFIG=build-users-group ='",
];

/** Seconds for `nix-store --export PATHS | nsenter -t INIT -a nix-store --import`, one bash pipeline. */
export async function pipe(robotPid: number, paths: readonly string[]): Promise<number> {
  const t0 = performance.now();
  await directPipe(robotPid, paths, 600_000);
  return (performance.now() - t0) / 1000;
}

/** The pipeline itself, failing if any part of it does. */
export async function directPipe(
  robotPid: number,
  paths: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const importer = ["nsenter", "-t", String(robotPid), "-a", ...ROBOT_ENV, "nix-store", "--import"].join(" ");
  const script = `set -o pipefail; nix-store --export "$@" | ${importer} >/dev/null`;
  const r = await run("bash", ["-c", script, "bench", ...paths], {
    timeoutMs,
    env: { ...process.env, NIX_CONFIG: "build-users-group =" },
    check: false,
  });
  if (r.code !== 0)
    throw new Error(
      `nix-store --export | nix-store --import in ${robotPid} failed (exit ${r.code}): ${r.stderr.slice(-400)}`,
    );
}
