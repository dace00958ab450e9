// A lab robot on small disks (lab up --store-size/--boot-size): its agent collecting after every
// deployment, and what its store and profile hold.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { type LabRobot, labExec, waitForAgent } from "../lab/index.js";
import { type CliRun, controller } from "./controller.js";
import { until } from "./faults.js";

export const MiB = 1048576;
const PROFILE = "/nix/var/nix/profiles/system";

export const inRobot = async (robot: LabRobot, argv: readonly string[], timeoutMs = 60_000) =>
  labExec(robot.name, argv, { timeoutMs });

export async function sh(robot: LabRobot, script: string, timeoutMs = 60_000): Promise<string> {
  const r = await inRobot(robot, ["sh", "-c", script], timeoutMs);
  if (r.code !== 0)
    throw new Error(`robot ${robot.name}: ${script.slice(0, 80)} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The agent collects after every deployment (gc.enabled), keeps `keep` good generations; quick health. */
export async function configureGc(robot: LabRobot, keep: number, reserveBytes: number): Promise<void> {
  const file = join(robot.rootDir, "etc/ros-rollback/agent.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as { health: Record<string, unknown> };
  const gc = { enabled: true, keepGenerations: keep, reserve: reserveBytes };
  const health = { ...config.health, settleSeconds: 1, stableSeconds: 2, timeoutSeconds: 10 };
  writeFileSync(file, `${JSON.stringify({ ...config, health, gc })}\n`);
  expect((await inRobot(robot, ["systemctl", "restart", "ros-rollback-agent"])).code).toBe(0);
  await waitForAgent(robot.name, { timeoutMs: 30_000 });
}

export function deploy(robot: LabRobot, system: string, ...extra: string[]): Promise<CliRun> {
  return controller(robot, ["deploy", system, "--sign-key", robot.signingKey, "--json", ...extra], 180_000);
}

/** Store paths of the profile's generations, oldest first. */
export async function generationSystems(robot: LabRobot): Promise<string[]> {
  const out = await sh(robot, `for g in ${PROFILE}-*-link; do readlink -f "$g"; done`);
  return out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("/nix/store/"));
}

export const currentSystem = async (robot: LabRobot): Promise<string> =>
  (await sh(robot, `readlink -f ${PROFILE}`)).trim();

/** Entries of /nix/store whose name contains `word` (valid or not: what takes space). */
export async function storeEntries(robot: LabRobot, word: string): Promise<string[]> {
  const out = await sh(robot, `ls /nix/store | grep -F -- '${word}' || true`);
  return out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** The GC units the agent started that are still loaded (running or not yet collected). */
export async function gcUnits(robot: LabRobot): Promise<string[]> {
  const out = await sh(robot, "systemctl list-units --all --plain --no-legend 'ros-rollback-gc-*' || true");
  return out
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "");
}

export async function noCollectionRunning(robot: LabRobot, timeoutMs = 120_000): Promise<void> {
  await until(
    "the agent's collection to end",
    async () => ((await gcUnits(robot)).length === 0 ? true : undefined),
    timeoutMs,
  );
}

/** A counter of the robot's agent without labels (`ros_rollback_…`), read from its metrics endpoint. */
export async function counter(robot: LabRobot, name: string): Promise<number> {
  const text = await (await fetch(robot.metrics, { signal: AbortSignal.timeout(10_000) })).text();
  const m = new RegExp(`^${name} ([0-9.e+]+)$`, "m").exec(text);
  if (m === null) throw new Error(`no ${name} at ${robot.metrics}`);
  return Number(m[1]);
}

/** Collections the agent ended (store GC included). */
export const gcRuns = (robot: LabRobot): Promise<number> => counter(robot, "ros_rollback_gc_runs_total");

/** Waits until the agent ended a collection after `runs` were counted, and none runs. */
export async function collectedSince(robot: LabRobot, runs: number, timeoutMs = 120_000): Promise<void> {
  await until(
    "the agent's collection after the deploy",
    async () => ((await gcRuns(robot)) > runs ? true : undefined),
    timeoutMs,
  );
  await noCollectionRunning(robot, timeoutMs);
}

/** Host PIDs of the robot's processes named `comm` with `arg` among their arguments (read from the host: a quick poll). */
export function robotProcesses(robot: LabRobot, comm: string, arg: string): number[] {
  const ns = readlinkSync(`/proc/${robot.pid}/ns/pid`);
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== comm) continue;
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").includes(arg)) continue;
      if (readlinkSync(`/proc/${entry}/ns/pid`) === ns) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export async function verifyStore(robot: LabRobot): Promise<void> {
  const r = await inRobot(robot, ["nix-store", "--verify", "--check-contents"], 300_000);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).not.toMatch(/path .* disappeared|hash mismatch|is corrupt/);
}

/** Every path of `system`'s closure is valid in the robot's store and holds what it should. */
export async function closureIntact(robot: LabRobot, system: string): Promise<void> {
  const r = await inRobot(robot, ["sh", "-c", `nix-store --verify-path $(nix-store -qR ${system})`]);
  expect(r.code, `closure of ${system}: ${r.stderr}`).toBe(0);
}

/** Boot entries the lab's bootloader installed (systems/switch-to-configuration.sh): hash-kernel, hash-initrd. */
export async function bootEntries(robot: LabRobot): Promise<string[]> {
  const out = await sh(robot, "ls -A /boot/lab 2>/dev/null || true");
  return out
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** The entry's files of a system, as the lab's bootloader names them. */
export const entryOf = (system: string): string[] => {
  const hash = system.replace(/^\/nix\/store\//, "").slice(0, 32);
  return [`${hash}-initrd`, `${hash}-kernel`];
};
