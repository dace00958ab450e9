import { type ActivationAction, DeploymentState, RollbackReason } from "@ros-rollback/proto";
import { AgentCallError } from "../agent-api/call-error.js";
import type { CommandResult } from "../core/command.js";
import { asUserError, ExitCode, UsageError, UserError } from "../core/errors.js";
import type { PushSummary } from "../transfer/transfer.js";
import { rollbackReasonName } from "./enum-names.js";
import type { Followed } from "./followed.js";
import { type HeldJson, holdsLine, overrideWarning } from "./holds.js";
import { judge, type Operation, type Outcome } from "./outcome.js";
import {
  type EventJson,
  eventJson,
  formatSeconds,
  generationOrNull,
  type HealthJson,
  healthJson,
  healthLine,
  type UnitChangesJson,
  unitChangesJson,
  unitChangesText,
} from "./views.js";

export interface DeploymentReport {
  readonly target: string;
  readonly operation: "deploy" | "rollback";
  readonly action: string | null;
  readonly storePath: string | null;
  readonly deploymentId: string | null;
  readonly outcome: Outcome;
  readonly exitCode: ExitCode;
  readonly generation: number | null;
  readonly previousGeneration: number | null;
  readonly reason: string;
  /** Why the agent rolled back ("unhealthy", "not-confirmed", "activation-failed", ...), or null. */
  readonly rollbackReason: string | null;
  /** The last health report seen (events or status), or null. */
  readonly health: HealthJson | null;
  /** The deployment was confirmed: by our Confirm over a new connection, or by the agent itself (--no-confirm). */
  readonly confirmed: boolean;
  readonly error: { readonly status: string; readonly details: string } | null;
  readonly push: PushSummary | null;
  readonly events: readonly EventJson[];
  /** What the deployment's switch did to units (from the agent's report), or null. */
  readonly unitChanges: UnitChangesJson | null;
  /** What its rollback's switch did, when it rolled back, or null. */
  readonly rollbackUnitChanges: UnitChangesJson | null;
  /** The agent refused because the robot was held: its holds, how long we waited (--wait-for-release); null: never held. */
  readonly held: HeldJson | null;
  /** --override-hold: the holds the request asked to go ahead despite ([] when none). */
  readonly overrideHolds: readonly string[];
}

export function buildReport(input: {
  target: string;
  operation: Operation;
  action: ActivationAction;
  actionLabel: string | null;
  storePath: string | null;
  followed: Followed;
  /** Current generation before we started (GetStatus), used when no event names the previous one. */
  generationBefore: number;
  push: PushSummary | null;
  /** --no-confirm: the agent confirms by itself once healthy. */
  selfConfirm: boolean;
  held?: HeldJson | null;
}): DeploymentReport {
  const { followed } = input;
  const verdict = judge(input.operation, input.action, followed.end);
  const last = followed.events[followed.events.length - 1];
  const withId = followed.events.find((e) => e.deploymentId !== "");
  const finalMessage = last?.final === true && last.message !== "" ? last.message : "";
  const errorText = followed.error === undefined ? "" : followed.error.message;
  const end = followed.end;
  const rollbackReason =
    (end.kind === "final" ? end.rollbackReason : undefined) ?? RollbackReason.ROLLBACK_REASON_UNSPECIFIED;
  // The failing check names why a deployment did not stick; when it did, health is no reason.
  const unhealthy =
    verdict.outcome !== "succeeded" && followed.health !== undefined && !followed.health.healthy
      ? `health: ${followed.health.reason || healthLine(followed.health)}`
      : "";
  const notConfirmed = followed.events.some(
    (e) => e.state === DeploymentState.DEPLOYMENT_STATE_NOT_CONFIRMED,
  );
  const confirmed =
    followed.confirmation?.confirmed === true ||
    (input.selfConfirm && verdict.outcome === "succeeded" && !notConfirmed);
  const confirmError =
    followed.confirmation !== undefined && !followed.confirmation.confirmed
      ? `could not confirm: ${followed.confirmation.error ?? "unknown"}`
      : "";
  const note =
    followed.note === undefined
      ? ""
      : followed.statusMessage === undefined
        ? followed.note
        : `${followed.note}: ${followed.statusMessage}`;
  return {
    target: input.target,
    operation: input.operation === "activate" ? "deploy" : "rollback",
    action: input.actionLabel,
    storePath: input.storePath,
    deploymentId: withId?.deploymentId ?? null,
    outcome: verdict.outcome,
    exitCode: verdict.exitCode,
    generation: last === undefined ? null : generationOrNull(last.generation),
    previousGeneration: generationOrNull(
      followed.events.find((e) => e.previousGeneration > 0)?.previousGeneration ?? input.generationBefore,
    ),
    reason: [verdict.reason, unhealthy, finalMessage, confirmError, errorText, note]
      .filter((s) => s !== "")
      .join(" — "),
    rollbackReason: rollbackReasonName(rollbackReason),
    health: followed.health === undefined ? null : healthJson(followed.health),
    confirmed,
    error:
      followed.error === undefined
        ? null
        : { status: followed.error.statusName, details: followed.error.details },
    push: input.push,
    events: followed.events.map(eventJson),
    unitChanges: lastKnown(followed.events.map((e) => unitChangesJson(e.unitChanges))),
    rollbackUnitChanges: lastKnown(followed.events.map((e) => unitChangesJson(e.rollbackUnitChanges))),
    held: input.held ?? null,
    overrideHolds: [],
  };
}

function lastKnown<T>(xs: readonly (T | null)[]): T | null {
  for (let i = xs.length - 1; i >= 0; i--) {
    const x = xs[i];
    if (x !== null && x !== undefined) return x;
  }
  return null;
}

/** The human summary on stdout. */
export function reportText(r: DeploymentReport): string {
  const head = `${r.target}: ${r.operation} ${r.outcome}`;
  const gens =
    r.generation === null
      ? ""
      : ` (generation ${r.generation}${r.previousGeneration === null ? "" : `, previous ${r.previousGeneration}`})`;
  const id =
    r.deploymentId === null ? "" : `\ndeployment ${r.deploymentId}${r.confirmed ? " (confirmed)" : ""}`;
  const units = r.unitChanges === null ? "" : `\nunits: ${unitChangesText(r.unitChanges)}`;
  const back =
    r.rollbackUnitChanges === null ? "" : `\nrollback units: ${unitChangesText(r.rollbackUnitChanges)}`;
  const held =
    r.held?.released === true
      ? `\nwaited ${formatSeconds(r.held.waitedSeconds)} for release: ${holdsLine(r.held.holds)}`
      : "";
  const overrode = r.overrideHolds.length === 0 ? "" : `\n${overrideWarning(r.overrideHolds) ?? ""}`;
  return `${head}${gens}: ${r.reason}${held}${overrode}${id}${units}${back}`;
}

/**
 * The report when the command stopped BEFORE asking the agent to change
 * anything (connect failure, refused query/push, interrupt): outcome
 * "unchanged", exit 1, and the error as the reason.
 */
export function unchangedReport(input: {
  target: string;
  operation: Operation;
  actionLabel: string | null;
  storePath: string | null;
  error: UserError;
  generationBefore: number;
  push: PushSummary | null;
}): DeploymentReport {
  const e = input.error;
  return {
    target: input.target,
    operation: input.operation === "activate" ? "deploy" : "rollback",
    action: input.actionLabel,
    storePath: input.storePath,
    deploymentId: null,
    outcome: "unchanged",
    exitCode: ExitCode.Unchanged,
    generation: null,
    previousGeneration: generationOrNull(input.generationBefore),
    reason: e.message,
    rollbackReason: null,
    health: null,
    confirmed: false,
    error: e instanceof AgentCallError ? { status: e.statusName, details: e.details } : null,
    push: input.push,
    events: [],
    unitChanges: null,
    rollbackUnitChanges: null,
    held: null,
    overrideHolds: [],
  };
}

/**
 * For errors thrown before the agent was asked to change anything: returns
 * the UserError to report (an interrupt becomes `interruptedMessage`);
 * rethrows usage errors (they go to the renderer with the --help pointer)
 * and bugs.
 */
export function errorBeforeChange(e: unknown, signal: AbortSignal, interruptedMessage: string): UserError {
  if (signal.aborted) return new UserError(interruptedMessage, { cause: e });
  const user = asUserError(e);
  if (e instanceof UsageError || user === undefined) throw e;
  return user;
}

/** A report as the command result: JSON document, human summary, exit code. */
export function reportResult(report: DeploymentReport): CommandResult {
  return { exitCode: report.exitCode, json: report, human: reportText(report) };
}
