import { setTimeout as sleep } from "node:timers/promises";
import { isBad, isBlessed } from "../boot/entries.js";
import type { BootPorts } from "../boot/ports.js";
import { AgentError } from "../errors.js";
import { restoredData } from "./data-steps.js";
import { restoreProfile } from "./profile-restore.js";
import type { DeploymentRecord } from "./record.js";
import type { StepDeps } from "./step-contract.js";
import { describeExit, runSwitchUnit, switchUnitName } from "./switch-unit.js";

// A deployment judged across a counted reboot (deploy --reboot, config boot.counting): the loader
// counts the new entry's tries, the agent's verdict file decides whether it is blessed
// (agent/boot/README.md). Each step is safe to run again after a reset at any point: it looks at
// what runs and at the loader's entries first.

/** How long a booted agent waits for the boot's activation to point /run/current-system somewhere known. */
const BOOT_ACTIVATION_WAIT_MS = 60_000;
/** How long the agent looks for systemd-bless-boot's rename after writing `good`. */
const BLESS_WAIT_MS = 15_000;

/**
 * Judged in a later boot: a BOOT, and a SWITCH whose activation exited 100 (reboot required). Both
 * made the new generation the boot default only; what the next boot runs is what gets judged.
 */
export function judgedAfterBoot(r: DeploymentRecord): boolean {
  return r.kind === "activate" && (r.action === "boot" || (r.action === "switch" && r.exitCode === 100));
}

/**
 * The boot ports when this deployment's generation is judged in a counted boot: on a robot that
 * counts boots the loader counts its entry whoever reboots; --reboot only decides that the agent does.
 */
export function countedBoot(r: DeploymentRecord, d: StepDeps): BootPorts | undefined {
  return judgedAfterBoot(r) ? d.boot : undefined;
}

/**
 * Before a generation that is judged after a boot is recorded as scheduled: its entry gets its
 * tries if the installer wrote none (nixos-25.05's does not count), else no boot of it would count.
 * Idempotent, so a reset before the record only repeats it.
 */
export async function countNewEntry(r: DeploymentRecord, boot: BootPorts | undefined): Promise<void> {
  if (boot === undefined || r.generation === undefined) return;
  await boot.loader.countEntry(r.generation, boot.tries);
}

/**
 * At start: a REBOOT_REQUIRED record (final) is taken up again in the first later boot of a robot
 * that counts boots (records of older agents, without a boot id, are left alone).
 */
export async function takenUpAfterBoot(
  r: DeploymentRecord | undefined,
  system: StepDeps["system"],
  boot: BootPorts | undefined,
): Promise<boolean> {
  if (boot === undefined || r?.state !== "reboot_required" || !judgedAfterBoot(r)) return false;
  return r.bootId !== undefined && (await system.bootId()) !== r.bootId;
}

/**
 * In a later boot, what runs decides: the new system → take the judging up; the previous one →
 * the loader went back (or a human chose it): roll back now, saying which.
 * Returns false while neither runs yet (the boot's activation is still under way).
 */
export async function judgeCountedBoot(
  r: DeploymentRecord,
  d: StepDeps,
  b: BootPorts,
): Promise<"judging" | "fell_back" | "unknown"> {
  const running = await d.system.runningSystem();
  if (running === r.storePath) {
    await b.verdict.judging();
    if (!r.booted) {
      await d.transition("booted", { message: `booted ${r.storePath}; checking health`, booted: true });
    }
    return "judging";
  }
  if (running === undefined || running !== r.previous.storePath) return "unknown";
  const cause = await fellBackCause(r, b);
  const captured = restoresAfterFallBack(r) ? (r.snapshots ?? []).filter((s) => s.state === "captured") : [];
  await d.transition(captured.length > 0 ? "restore_started" : "boot_fell_back", {
    message: `${cause}; rolling back${captured.length > 0 ? ", the data first" : ""}`,
    rollbackReason: "boot",
    rollbackCause: cause,
    rollbackUnit: switchUnitName(r.id, "rollback"),
    booted: false,
    ...(captured.length > 0 ? { restores: captured, writersStoppedAt: d.clock.now() } : {}),
  });
  return "fell_back";
}

/**
 * Whether the data captured before the switch goes back when the loader went back: when the new
 * system ran since the capture (a switch that exited 100 ran it live) or the agent rebooted right
 * after it (--reboot; the new system may have run in its failed boots). A BOOT that waited for
 * someone's reboot left the previous system writing from the capture on, maybe for days, and the
 * new one most likely never ran (a kernel that does not boot): that data is newer and stays.
 */
function restoresAfterFallBack(r: DeploymentRecord): boolean {
  return r.action === "switch" || r.settings.reboot === true;
}

/** What a counted rollback did with the data captured before the switch, for its message. */
function dataNote(r: DeploymentRecord): string {
  const restored = restoredData(r);
  if (restored !== "" || !(r.snapshots ?? []).some((s) => s.state === "captured")) return restored;
  return "; data not restored: the previous system wrote it on from the capture until the reboot";
}

/** awaiting_reboot in a later boot: until the boot's activation says which system runs (bounded). */
export async function awaitCountedBoot(r: DeploymentRecord, d: StepDeps, b: BootPorts): Promise<void> {
  const until = d.clock.now() + BOOT_ACTIVATION_WAIT_MS;
  while ((await judgeCountedBoot(r, d, b)) === "unknown") {
    if (d.clock.now() > until) {
      const running = await d.system.runningSystem();
      await d.transition("error", {
        message: `the robot booted ${running ?? "no system"}, neither ${r.storePath} nor the previous system`,
      });
      return;
    }
    await sleep(500, undefined, { signal: d.signal });
  }
}

async function fellBackCause(r: DeploymentRecord, b: BootPorts): Promise<string> {
  const n = r.generation ?? 0;
  const entry = await b.loader.entryOf(n);
  if (entry === undefined) return `generation ${n} did not boot (its loader entry is gone)`;
  if (isBad(entry) || isBlessed(entry)) return `generation ${n} did not boot (${entry.triesDone} tries)`;
  const prev = r.previous.generation > 0 ? `generation ${r.previous.generation}` : "the previous system";
  return (
    `the robot booted ${prev}, not generation ${n}, with ${entry.triesLeft} of its tries left ` +
    "(a reset before the loader counted, or someone chose the entry)"
  );
}

/** Before `confirmed`: the verdict `good` lets systemd-bless-boot bless the entry; says whether it did. */
export async function blessCountedBoot(r: DeploymentRecord, d: StepDeps): Promise<string> {
  const b = countedBoot(r, d);
  if (b !== undefined && r.booted && r.generation !== undefined) {
    await b.verdict.verdict("good");
    const until = d.clock.now() + BLESS_WAIT_MS;
    for (;;) {
      const entry = await b.loader.entryOf(r.generation);
      if (entry !== undefined && isBlessed(entry)) return `; boot entry ${entry.file} blessed`;
      if (d.clock.now() >= until) {
        return `; WARNING: boot entry ${entry?.file ?? "(none)"} was not blessed (is systemd-bless-boot.service enabled?)`;
      }
      await sleep(250, undefined, { signal: d.signal });
    }
  }
  if (d.boot !== undefined && r.kind === "activate" && r.action === "switch" && r.generation !== undefined) {
    // Judged live: its new entry must not count tries at the next boot (nothing would bless it then).
    const file = await d.boot.loader.blessEntry(r.generation);
    return file === undefined ? "" : `; boot entry ${file} blessed (judged live)`;
  }
  return "";
}

/**
 * Back to the previous generation after a counted boot: this boot marked bad (when it is the new
 * generation's), the profile back and the failed generation deleted, `switch-to-configuration boot`
 * of the previous (a live switch cannot change the kernel), its entry removed; recorded, then a reboot
 * into the previous generation unless it already runs.
 */
export async function rollBackCountedBoot(r: DeploymentRecord, d: StepDeps, b: BootPorts): Promise<void> {
  const prevPath = r.previous.storePath;
  if (prevPath === undefined) throw new AgentError("FAILED_PRECONDITION", "no previous system recorded");
  const running = await d.system.runningSystem();
  const onNew = running === r.storePath;
  if (onNew) {
    await b.verdict.verdict("bad");
    await b.loader.markBad();
  }
  const unit = r.rollbackUnit ?? switchUnitName(r.id, "rollback");
  const { code, tail, unitChanges } = await runSwitchUnit(r, d, unit, async () => {
    await restoreProfile(r, d);
    await d.switcher.start(unit, prevPath, "boot", d.signal);
  });
  if (code !== 0) {
    await d.transition("rollback_error", {
      message: `rollback activation ${describeExit(code, tail)}`,
      rollbackUnitChanges: unitChanges,
      unitsBefore: undefined,
      writersStoppedAt: undefined,
    });
    return;
  }
  if (r.generation !== undefined && r.generation !== r.previous.generation) {
    await b.loader.removeEntries(r.generation);
  }
  const where = r.previous.generation > 0 ? `generation ${r.previous.generation}` : prevPath;
  const rebooting = running !== prevPath;
  await d.transition("rollback_finished", {
    message: `rolled back to ${where} after: ${r.rollbackCause ?? "a failed boot"}${dataNote(r)}${rebooting ? `; rebooting into ${where}` : ""}`,
    rollbackUnitChanges: unitChanges,
    unitsBefore: undefined,
    writersStoppedAt: undefined,
  });
  if (rebooting) await b.power.reboot();
}

/**
 * At start: a counted rollback recorded as done while the robot still runs the failed generation
 * (a reset between the record and the reboot) reboots now.
 */
export async function finishCountedRollback(
  r: DeploymentRecord | undefined,
  system: StepDeps["system"],
  boot: BootPorts | undefined,
): Promise<boolean> {
  if (boot === undefined || r?.state !== "rolled_back" || !judgedAfterBoot(r) || !r.booted) return false;
  if ((await system.runningSystem()) !== r.storePath) return false;
  await boot.power.reboot();
  return true;
}
