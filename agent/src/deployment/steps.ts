import { AgentError } from "../errors.js";
import type { SwitchAction } from "../system/switcher.js";
import {
  awaitCountedBoot,
  countedBoot,
  countNewEntry,
  judgeCountedBoot,
  rollBackCountedBoot,
} from "./boot-steps.js";
import {
  hasDataSteps,
  migrating,
  restoredData,
  restoring,
  setProfileAfterCapture,
  snapshotting,
} from "./data-steps.js";
import {
  awaitConfirmation,
  awaitingReboot,
  awaitReboot,
  checkHealth,
  judgeFailedUnits,
  summarize,
} from "./health-steps.js";
import { restoreProfile } from "./profile-restore.js";
import type { DeploymentRecord, RollbackReason } from "./record.js";
import type { Step, StepDeps, StepResult } from "./step-contract.js";
import { describeExit, exitEvent, runSwitchUnit, switchUnitName } from "./switch-unit.js";
import { snapshotUnits } from "./unit-report.js";

/**
 * Performs the one side effect that the record's state calls for, then
 * records the outcome. Every step is safe to run again after a crash: it
 * first looks at what is already done.
 */
export async function runStep(r: DeploymentRecord, d: StepDeps): Promise<StepResult> {
  try {
    // Waiting for something outside the agent (a reboot): the step does not run yet.
    const counted = countedBoot(r, d);
    if (r.state === "awaiting_reboot" && (await awaitingReboot(r, d))) {
      // Recorded with this boot's id first: a reset before the reboot reboots again.
      if (r.settings.reboot === true) await counted?.power.reboot();
      return "park";
    }
    // Every (re)start during the judging of a counted boot: say so again, or see the loader went back.
    if (
      counted !== undefined &&
      r.booted &&
      (r.state === "checking_health" || r.state === "awaiting_confirmation") &&
      (await judgeCountedBoot(r, d, counted)) === "fell_back"
    ) {
      return "next";
    }
    await STEPS[r.state](r, d);
  } catch (e) {
    if (d.signal.aborted) throw e;
    const message = e instanceof Error ? e.message : String(e);
    if (r.state === "rolling_back") {
      await d.transition("rollback_error", { message: `rollback failed: ${message}` });
    } else if (
      r.state === "pending" ||
      r.state === "prepared" ||
      r.state === "profile_set" ||
      r.state === "activating" ||
      r.state === "awaiting_reboot" ||
      r.state === "reboot_required"
    ) {
      await d.transition("error", { message });
    } else if (r.state === "checking_health" || r.state === "awaiting_confirmation") {
      await d.transition("unhealthy", {
        message: `health checking failed: ${message}`,
        rollbackReason: "unhealthy",
      });
    } else {
      throw e;
    }
  }
  return "next";
}

const STEPS: Record<DeploymentRecord["state"], Step> = {
  pending: async (r, d) => {
    if (hasDataSteps(r)) {
      // The report compares against the units as they ran before the data step stops any.
      await d.transition("snapshot_started", {
        message: "capturing the declared data",
        unitsBefore: await d.unitsBefore(r),
        writersStoppedAt: d.clock.now(),
      });
    } else {
      await beginSwitch(r, d);
    }
  },
  snapshotting: (r, d) => snapshotting(r, d),
  migrating: (r, d) => migrating(r, d),
  // SWITCH/BOOT: a profile that cannot be set changed nothing when no migration ran.
  prepared: (r, d) =>
    r.kind === "activate" && (r.action === "switch" || r.action === "boot")
      ? setProfileAfterCapture(r, d)
      : beginSwitch(r, d),
  restoring: (r, d) => restoring(r, d),
  profile_set: (r, d) => startSwitch(r, d),
  activating: async (r, d) => {
    const unit = r.switchUnit ?? switchUnitName(r.id, "switch");
    const { code, tail, unitChanges } = await runSwitchUnit(r, d, unit, () =>
      d.switcher.start(unit, r.storePath, r.action, d.signal),
    );
    // Exit 100 with --reboot: the agent reboots into the new generation and judges it there.
    const reboot = code === 100 && r.settings.reboot === true && d.boot !== undefined;
    if (code === 100) await countNewEntry(r, d.boot);
    await d.transition(reboot ? "boot_scheduled" : exitEvent(code), {
      message: `${describeExit(code, tail)}${reboot ? "; rebooting to judge it after the boot" : ""}`,
      exitCode: code,
      unitChanges,
      unitsBefore: undefined,
      writersStoppedAt: undefined,
      // This boot's id: a later boot (the agent's reboot or an operator's) judges the new generation.
      ...(code === 100 ? { bootId: await d.system.bootId() } : {}),
    });
  },
  activated: async (r, d) => {
    if (r.action === "dry-activate") {
      await d.transition("dry_run_finished", { message: "dry activation finished" });
    } else if (r.action === "boot") {
      await countNewEntry(r, d.boot);
      await d.transition("boot_scheduled", {
        message: `${r.storePath} is the boot default; it is judged after the next boot`,
        bootId: await d.system.bootId(),
      });
    } else {
      await d.transition("health_started", { message: `${r.storePath} is active; checking health` });
    }
  },
  awaiting_reboot: (r, d) => {
    const counted = countedBoot(r, d);
    return counted === undefined ? awaitReboot(r, d) : awaitCountedBoot(r, d, counted);
  },
  checking_health: (r, d) => checkHealth(r, d),
  awaiting_confirmation: (r, d) => awaitConfirmation(r, d),
  units_failed: async (r, d) => {
    const verdict = await judgeFailedUnits(r, d);
    if (verdict.allIgnored) {
      await d.transition("units_ignored", { message: `${verdict.message}; checking health` });
    } else {
      await decideRollback(r, d, "unhealthy", verdict.message);
    }
  },
  activation_failed: (r, d) => decideRollback(r, d, "activation_failed", r.message),
  unhealthy: (r, d) => decideRollback(r, d, r.booted ? "boot" : "unhealthy", r.message),
  not_confirmed: (r, d) => decideRollback(r, d, "not_confirmed", r.message),
  rolling_back: async (r, d) => {
    const counted = countedBoot(r, d);
    if (counted !== undefined && (r.booted || r.rollbackReason === "boot")) {
      await rollBackCountedBoot(r, d, counted);
      return;
    }
    const prev = r.previous;
    const prevPath = prev.storePath;
    if (prevPath === undefined) throw new AgentError("FAILED_PRECONDITION", "no previous system recorded");
    const unit = r.rollbackUnit ?? switchUnitName(r.id, "rollback");
    const {
      code,
      tail,
      unitChanges: rollbackUnitChanges,
    } = await runSwitchUnit(r, d, unit, async () => {
      if (r.action === "switch" || r.action === "boot") await restoreProfile(r, d);
      await d.switcher.start(unit, prevPath, rollbackAction(r.action, r.booted), d.signal);
    });
    if (code === 0) {
      const where = prev.generation > 0 ? `generation ${prev.generation}` : prev.storePath;
      // Report how the restored system fares; the rollback is done either way.
      const outcome = await d.health
        .evaluate(r.settings.health, (rep) => d.report(summarize(rep, d.clock)), d.signal)
        .catch((e: unknown) => ({ healthy: false, reason: (e as Error).message, report: undefined }));
      await d.transition("rollback_finished", {
        message: `rolled back to ${where} after: ${r.rollbackCause ?? r.rollbackReason ?? "a failure"}; restored system ${outcome.healthy ? "healthy" : `UNHEALTHY: ${outcome.reason}`}${restoredData(r)}`,
        health: outcome.report ? summarize(outcome.report, d.clock) : undefined,
        rollbackUnitChanges,
        unitsBefore: undefined,
        writersStoppedAt: undefined,
      });
    } else {
      await d.transition("rollback_error", {
        message: `rollback activation ${describeExit(code, tail)}`,
        rollbackUnitChanges,
        unitsBefore: undefined,
        writersStoppedAt: undefined,
      });
    }
  },
  // Taken up only in a later boot of a counting robot (Deployer.start): judged as a BOOT's.
  reboot_required: (r, d) => {
    const counted = countedBoot(r, d);
    return counted === undefined ? finalState(r) : awaitCountedBoot(r, d, counted);
  },
  rolled_back: finalState,
  rollback_failed: finalState,
  failed: finalState,
  succeeded: finalState,
  dry_run_done: finalState,
};

/** Moves the profile (SWITCH/BOOT, rollbacks) or starts the switch (TEST, DRY_ACTIVATE). */
async function beginSwitch(r: DeploymentRecord, d: StepDeps): Promise<void> {
  if (r.kind === "rollback") {
    const target = r.generation;
    if (target === undefined)
      throw new AgentError("INVALID_ARGUMENT", "rollback without a target generation");
    await d.profile.switchTo(target, d.signal);
    await d.transition("profile_set", {
      message: `profile switched to generation ${target}`,
      generation: target,
    });
  } else if (r.action === "switch" || r.action === "boot") {
    const generation = await d.profile.set(r.storePath, d.signal);
    await d.transition("profile_set", { message: `profile set: generation ${generation}`, generation });
  } else {
    await startSwitch(r, d);
  }
}

async function finalState(r: DeploymentRecord): Promise<void> {
  throw new Error(`no step for final state ${r.state}`);
}

async function startSwitch(r: DeploymentRecord, d: StepDeps): Promise<void> {
  const unit = switchUnitName(r.id, "switch");
  // Recorded before the unit starts, so a restarted agent knows which unit to wait for.
  await d.transition("activation_started", {
    message: `running switch-to-configuration ${r.action} in ${unit}`,
    switchUnit: unit,
    // A deployment with data steps took it before they stopped the writers.
    unitsBefore: r.unitsBefore ?? (await d.unitsBefore(r)),
  });
  await d.switcher.start(unit, r.storePath, r.action, d.signal);
}

async function decideRollback(
  r: DeploymentRecord,
  d: StepDeps,
  reason: RollbackReason,
  detail?: string,
): Promise<void> {
  const canRollBack =
    r.kind === "activate" && r.previous.storePath !== undefined && r.action !== "dry-activate";
  const auto = reason === "not_confirmed" ? r.settings.magicRollback : r.settings.autoRollback;
  const prefix = detail ? `${detail}; ` : "";
  if (!auto || !canRollBack) {
    const why = !auto
      ? `${reason === "not_confirmed" ? "magic" : "automatic"} rollback is off`
      : r.kind === "rollback"
        ? "a failed rollback is not rolled back"
        : "no previous system to return to";
    await d.transition("give_up", { message: `${prefix}left as it is: ${why}` });
    return;
  }
  const unit = switchUnitName(r.id, "rollback");
  const where = r.previous.generation > 0 ? `generation ${r.previous.generation}` : r.previous.storePath;
  // Data captured before the switch goes back first, with its writers stopped.
  const captured = (r.snapshots ?? []).filter((s) => s.state === "captured");
  await d.transition(captured.length > 0 ? "restore_started" : "rollback_started", {
    restores: captured.length > 0 ? captured : undefined,
    message: `${prefix}rolling back to ${where} (${reason.replace("_", " ")})`,
    rollbackUnit: unit,
    rollbackReason: reason,
    rollbackCause: detail ?? reason.replace("_", " "),
    unitsBefore: await snapshotUnits(d),
    writersStoppedAt: captured.length > 0 ? d.clock.now() : undefined,
  });
}

function rollbackAction(action: SwitchAction, booted: boolean): SwitchAction {
  // Before its reboot a BOOT deployment changed only the boot default; after it, the running system.
  if (action === "boot") return booted ? "switch" : "boot";
  if (action === "test") return "test";
  return "switch";
}
