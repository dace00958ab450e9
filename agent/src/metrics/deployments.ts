import type { DeploymentRecord, HealthSummary } from "../deployment/record.js";
import { DEPLOYMENT_STATES, type DeploymentState, isFinal } from "../deployment/states.js";
import type { AgentMetrics, DeploymentOutcome } from "./registry.js";

/** What the consumer needs of the Deployer. */
export interface DeploymentSource {
  latest(): DeploymentRecord | undefined;
  subscribe(listener: (record: DeploymentRecord) => void): () => void;
}

export interface DeploymentMetricsOptions {
  /** The system profile's current generation (undefined: no profile yet); read again after every state change. */
  readonly currentGeneration: () => Promise<number | undefined>;
  /** A failed generation read (the gauge keeps its last value). */
  readonly onError?: (e: unknown) => void;
}

export interface DeploymentMetrics {
  /** Resolves once the generation read started by the latest change is done (for tests). */
  settled(): Promise<void>;
  stop(): void;
}

const OUTCOMES: Partial<Record<DeploymentState, DeploymentOutcome>> = {
  succeeded: "confirmed",
  rolled_back: "rolled_back",
  failed: "failed",
  rollback_failed: "failed",
  reboot_required: "reboot_required",
};

/** When the record entered its current state (the persisted history survives agent restarts). */
function enteredAt(r: DeploymentRecord): number {
  const last = r.history.at(-1);
  return last !== undefined && last.state === r.state ? last.at : r.startedAt;
}

/**
 * Whether the generation the robot runs now is settled: no deployment under
 * way, and the latest one kept its system, restored the previous one, or
 * failed before changing anything.
 */
export function isSettled(r: DeploymentRecord | undefined): boolean {
  if (r === undefined || r.action === "dry-activate") return true;
  if (!isFinal(r.state)) return false;
  if (r.state === "succeeded" || r.state === "rolled_back" || r.state === "dry_run_done") return true;
  return !r.history.some((h) => h.state === "profile_set" || h.state === "activating");
}

/** Sets the health gauges from one round; an older round than one already shown is ignored. */
export function healthObserver(m: AgentMetrics): (h: HealthSummary) => void {
  let lastAt = Number.NEGATIVE_INFINITY;
  return (h) => {
    if (h.at < lastAt) return;
    lastAt = h.at;
    m.healthy.set(h.healthy ? 1 : 0);
    m.healthRoundTime.set(h.at / 1000);
    // A round shows exactly the checks it ran (a deployment may have dropped some).
    m.checkUp.reset();
    m.checkSeconds.reset();
    for (const c of h.checks) {
      const labels = { check: c.id, kind: c.kind };
      m.checkUp.set(labels, c.healthy ? 1 : 0);
      m.checkSeconds.set(labels, c.durationMs / 1000);
    }
  };
}

/**
 * Turns the deployer's stream of records (every state change and every health
 * round) into metrics. Counters move on transitions only, so health rounds and
 * repeated records do not count twice; the durations come from the persisted
 * history, so a deployment resumed by a restarted agent is timed from its start.
 */
export function observeDeployments(
  m: AgentMetrics,
  source: DeploymentSource,
  health: (h: HealthSummary) => void,
  o: DeploymentMetricsOptions,
): DeploymentMetrics {
  let last: { id: string; state: DeploymentState; at: number } | undefined;
  let generationRead: Promise<void> = Promise.resolve();

  const readGeneration = () => {
    generationRead = generationRead.then(() =>
      o.currentGeneration().then(
        (g) => {
          m.generation.set(g ?? 0);
        },
        (e: unknown) => o.onError?.(e),
      ),
    );
  };

  const showState = (r: DeploymentRecord) => {
    for (const state of DEPLOYMENT_STATES) m.deploymentState.set({ state }, state === r.state ? 1 : 0);
    m.deploymentStateSince.set(enteredAt(r) / 1000);
    m.generationConfirmed.set(isSettled(r) ? 1 : 0);
  };

  const timeLeft = (r: DeploymentRecord, from: DeploymentState, seconds: number) => {
    if (from === "activating") m.activationSeconds.observe({ kind: r.kind }, seconds);
    else if (from === "checking_health") m.healthEvaluationSeconds.observe(seconds);
    else if (from === "awaiting_confirmation") m.confirmationSeconds.observe(seconds);
    else if (from === "rolling_back") m.rollbackSeconds.observe(seconds);
  };

  const countEntered = (r: DeploymentRecord, firstSight: boolean) => {
    if (r.kind === "rollback") {
      if (firstSight) m.rollbacks.inc({ reason: "manual" });
      return;
    }
    if (r.state === "rolling_back") m.rollbacks.inc({ reason: r.rollbackReason ?? "unhealthy" });
    const outcome = OUTCOMES[r.state];
    if (outcome !== undefined && r.action !== "dry-activate") m.deployments.inc({ outcome });
  };

  const onRecord = (r: DeploymentRecord) => {
    if (r.health !== undefined) health(r.health);
    if (last !== undefined && last.id === r.id && last.state === r.state) return;
    const at = enteredAt(r);
    if (last !== undefined && last.id === r.id) timeLeft(r, last.state, Math.max(0, at - last.at) / 1000);
    countEntered(r, last?.id !== r.id);
    last = { id: r.id, state: r.state, at };
    showState(r);
    readGeneration();
  };

  // What an earlier agent left: shown, not counted again.
  const initial = source.latest();
  if (initial !== undefined) {
    last = { id: initial.id, state: initial.state, at: enteredAt(initial) };
    showState(initial);
    if (initial.health !== undefined) health(initial.health);
  } else {
    m.generationConfirmed.set(1);
  }
  readGeneration();
  const off = source.subscribe(onRecord);
  return { settled: () => generationRead, stop: off };
}
