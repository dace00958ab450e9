// Robot-side helpers the suites share.
import { labExec } from "../integration-tests/lab/index.js";

/** Deletes the closure in the robot so the next variant starts from nothing. */
export async function forget(robot: string, paths: readonly string[]): Promise<void> {
  const r = await labExec(robot, ["nix-store", "--delete", ...paths], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`nix-store --delete in ${robot}: ${r.stderr.trim().split("\n").at(-1)}`);
}

/** The agent's VmRSS and VmHWM (peak) in bytes. */
export async function agentMemory(robot: string): Promise<{ rss: number; peak: number }> {
  const pid = (
    await labExec(robot, ["systemctl", "show", "-p", "MainPID", "--value", "ros-rollback-agent"])
  ).stdout.trim();
  const status = (await labExec(robot, ["cat", `/proc/${pid}/status`])).stdout;
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}
