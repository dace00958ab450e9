// A lab robot on small disks (lab up --store-size/--boot-size): its agent collecting after every
// deployment, and what its store and profile hold.
import { readFileSync, writeFileSync } from "node:fs";
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
