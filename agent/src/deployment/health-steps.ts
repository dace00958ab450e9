import { setTimeout as sleep } from "node:timers/promises";
import { globMatch } from "../health/checks/units.js";
import type { HealthReport } from "../health/index.js";
import { blessCountedBoot } from "./boot-steps.js";
import type { Clock } from "./ports.js";
import type { DeploymentRecord, HealthSummary } from "./record.js";
import type { StepDeps } from "./step-contract.js";

/** How long a booted agent waits for the boot's activation to point /run/current-system at the new system. */
const BOOT_ACTIVATION_WAIT_MS = 60_000;

export function summarize(r: HealthReport, clock: Clock): HealthSummary {
  return {
    healthy: r.healthy,
    reason: r.healthy ? `healthy (${r.results.length} checks)` : r.reason,
    phase: r.phase,
    at: clock.now(),
    stableForSeconds: r.stableForSeconds,
    checks: r.results.map((c) => ({
      id: c.id,
      kind: c.kind,
      healthy: c.healthy,
      reason: c.reason,
      durationMs: Math.round(c.durationMs),
    })),
  };
}

/** Settle, then a stable healthy window within the timeout (the health/ module's evaluation). */
export async function checkHealth(r: DeploymentRecord, d: StepDeps): Promise<void> {
  const outcome = await d.health.evaluate(
    r.settings.health,
    (rep) => d.report(summarize(rep, d.clock)),
    d.signal,
  );
  const health = summarize(outcome.report, d.clock);
  if (!outcome.healthy) {
    await d.transition("unhealthy", {
      message: `unhealthy: ${outcome.reason}`,
      rollbackReason: r.booted ? "boot" : "unhealthy",
      health,
    });
  } else if (r.settings.selfConfirm || r.kind === "rollback") {
    const blessed = await blessCountedBoot(r, d);
    await d.transition("confirmed", {
      message: `healthy; kept without waiting for a Confirm${blessed}`,
      health,
    });
  } else {
    const deadline = d.clock.now() + r.settings.confirmTimeoutSeconds * 1000;
    await d.transition("healthy", {
      message: `healthy; waiting up to ${r.settings.confirmTimeoutSeconds} s for the controller to confirm`,
      confirmDeadline: deadline,
      health,
    });
  }
}

/**
 * Waits for Confirm until the persisted deadline (the ORIGINAL one after an
 * agent restart), watching health meanwhile: unhealthy → roll back at once.
 */
export async function awaitConfirmation(r: DeploymentRecord, d: StepDeps): Promise<void> {
  const deadline = r.confirmDeadline ?? d.clock.now();
  const interval = r.settings.health.intervalSeconds * 1000;
  const monitor = d.health.monitor(r.settings.health);
  // A new ROS subscription (e.g. after an agent restart) needs a moment, and a rate a whole
  // window, before silence or a low rate means anything.
  const spec = r.settings.health;
  const graceEnd = d.clock.now() + (spec.settleSeconds + (spec.ros?.rateWindowSeconds ?? 0)) * 1000;
  for (;;) {
    d.signal.throwIfAborted();
    if (d.confirmRequested(r.id)) {
      const blessed = await blessCountedBoot(r, d);
      await d.transition("confirmed", { message: `confirmed by the controller${blessed}` });
      return;
    }
    const left = deadline - d.clock.now();
    if (left <= 0) {
      if (r.settings.magicRollback) {
        await d.transition("deadline_passed", {
          message: `not confirmed within ${r.settings.confirmTimeoutSeconds} s`,
          rollbackReason: "not_confirmed",
        });
      } else {
        await d.transition("kept", { message: "not confirmed, but kept: magic rollback is off" });
      }
      return;
    }
    await d.waitForConfirm(Math.min(interval, left), d.signal);
    if (d.confirmRequested(r.id) || deadline - d.clock.now() <= 0) continue;
    const report = summarize(await monitor.round(d.signal), d.clock);
    const settling = d.clock.now() < graceEnd;
    d.report({ ...report, phase: settling ? "settling" : "monitoring" });
    if (!report.healthy && !settling) {
      await d.transition("unhealthy", {
        message: `unhealthy while waiting for confirmation: ${report.reason}`,
        rollbackReason: r.booted ? "boot" : "unhealthy",
        health: report,
      });
      return;
    }
  }
}

/** A BOOT deployment moves on only in a later boot: until then its step does not run. */
export async function awaitingReboot(r: DeploymentRecord, d: StepDeps): Promise<boolean> {
  return (await d.system.bootId()) === r.bootId;
}

/** In a later boot: on once that boot runs the new system. */
export async function awaitReboot(r: DeploymentRecord, d: StepDeps): Promise<void> {
  const started = d.clock.now();
  for (;;) {
    const running = await d.system.runningSystem();
    if (running === r.storePath) {
      await d.transition("booted", { message: `booted ${r.storePath}; checking health`, booted: true });
      return;
    }
    if (d.clock.now() - started > BOOT_ACTIVATION_WAIT_MS) {
      await d.transition("error", {
        message: `the robot booted ${running ?? "no system"} instead of ${r.storePath}`,
      });
      return;
    }
    await sleep(500, undefined, { signal: d.signal });
  }
}

/** switch-to-configuration exited 4: does any failed unit count? */
export async function judgeFailedUnits(
  r: DeploymentRecord,
  d: StepDeps,
): Promise<{ allIgnored: boolean; message: string }> {
  const failed = await d.health.failedUnits(d.signal);
  const ignore = r.settings.health.systemd.ignoreFailed;
  const counted = failed.filter((u) => !ignore.some((p) => globMatch(p, u)));
  if (failed.length > 0 && counted.length === 0) {
    return { allIgnored: true, message: `failed units are all ignored (${failed.join(", ")})` };
  }
  return {
    allIgnored: false,
    message: counted.length > 0 ? `failed units: ${counted.join(", ")}` : "a unit failed to start",
  };
}
