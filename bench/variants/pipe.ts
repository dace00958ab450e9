// `nix-store --export | nix-store --import` into the robot through nsenter: no network at all,
// the fastest a stream of the closure can go on this machine.
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { labExec } from "../../integration-tests/lab/index.js";

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

/** Seconds for `nix-store --export PATHS | (in the robot) nix-store --import`, streamed. */
export async function pipe(robot: string, paths: readonly string[]): Promise<number> {
  const t0 = performance.now();
  const exporter = spawn("nix-store", ["--export", ...paths], { stdio: ["ignore", "pipe", "inherit"] });
  const r = await labExec(robot, ["nix-store", "--import"], {
    input: exporter.stdout,
    output: { stdout: sink(), stderr: process.stderr },
    timeoutMs: 600_000,
  });
  if (r.code !== 0) throw new Error(`nix-store --import in ${robot} failed (exit ${r.code})`);
  return (performance.now() - t0) / 1000;
}
