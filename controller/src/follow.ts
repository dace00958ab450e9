import type { ActivationAction, DeploymentEvent, DeploymentState } from "@ros-rollback/proto";
import { type AgentApi, AgentCallError } from "./agent-api.js";
import type { CommandResult } from "./core/command.js";
import { ExitCode, isUserError, UsageError, UserError } from "./core/errors.js";
import { judge, type Operation, type Outcome, type StreamEnd, stateName } from "./outcome.js";
import { type EventJson, eventJson, eventLine, generationOrNull } from "./views.js";

export interface Followed {
  readonly end: StreamEnd;
  readonly events: readonly DeploymentEvent[];
  /** The status error that ended the stream, if one did. */
  readonly error: AgentCallError | undefined;
  /** How the outcome was learned, when not from the stream itself. */
  readonly note: string | undefined;
}

/**
 * Reads an Activate/Rollback event stream to its end and says HOW it ended.
 * Status errors and the user's interrupt become a StreamEnd (they are
 * outcomes, not exceptions, once the robot may have changed); anything else
 * is a bug and is thrown.
 */
export async function followEvents(
  stream: AsyncIterable<DeploymentEvent>,
  onEvent: (e: DeploymentEvent) => void,
  signal: AbortSignal,
): Promise<Followed> {
  const events: DeploymentEvent[] = [];
  const lastState = () => events[events.length - 1]?.state;
  const followed = (end: StreamEnd, error?: AgentCallError): Followed => ({
    end,
    events,
    error,
    note: undefined,
  });
  try {
    for await (const event of stream) {
      events.push(event);
      onEvent(event);
      if (event.final) {
        return followed({
          kind: "final",
          state: event.state,
          earlier: events.slice(0, -1).map((e) => e.state),
        });
      }
    }
    return followed({ kind: "no-final", lastState: lastState() });
  } catch (e) {
    if (signal.aborted && e === signal.reason)
      return followed({ kind: "interrupted", lastState: lastState() });
    if (e instanceof AgentCallError)
      return followed({ kind: "error", code: e.code, lastState: lastState() }, e);
    throw e;
  }
}

export interface ReattachOptions {
  readonly api: Pick<AgentApi, "getStatus">;
  readonly target: string;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
  readonly now: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Give up (outcome stays uncertain) after this long. */
  readonly timeoutMs: number;
  readonly pollIntervalMs: number;
}

/**
 * Follows a deployment to its end: the event stream first; if the stream
 * breaks after the agent named the deployment (the switch may restart the
 * agent or the network), asks GetStatus until that deployment is final. The
 * agent persists its record, so its final state is the truth; without it
 * the outcome stays "uncertain".
 */
export async function followDeployment(
  stream: AsyncIterable<DeploymentEvent>,
  onEvent: (e: DeploymentEvent) => void,
  options: ReattachOptions,
): Promise<Followed> {
  const followed = await followEvents(stream, onEvent, options.signal);
  const id = followed.events.find((e) => e.deploymentId !== "")?.deploymentId;
  if ((followed.end.kind !== "error" && followed.end.kind !== "no-final") || id === undefined)
    return followed;
  if (options.timeoutMs <= 0) return followed;
  const lost =
    followed.error === undefined
      ? "the event stream ended early"
      : `lost the event stream (${followed.error.statusName})`;
  options.log(`${options.target}: ${lost}; asking the agent for the outcome of ${id}`);
  const found = await reattach(id, options);
  switch (found.kind) {
    case "final":
      return {
        ...followed,
        // Events in between were not seen: `earlier` must not vouch for anything.
        end: { kind: "final", state: found.state, earlier: [] },
        note: [
          `learned from the agent's status after ${followed.error === undefined ? "the event stream ended early" : "the event stream broke"}`,
          found.message,
        ]
          .filter((m) => m !== "")
          .join(": "),
      };
    case "interrupted":
      return {
        ...followed,
        end: { kind: "interrupted", lastState: found.lastState ?? followed.end.lastState },
      };
    case "gave-up":
      return { ...followed, note: found.why };
  }
}

type Reattached =
  | { readonly kind: "final"; readonly state: DeploymentState; readonly message: string }
  | { readonly kind: "interrupted"; readonly lastState: DeploymentState | undefined }
  | { readonly kind: "gave-up"; readonly why: string };

async function reattach(id: string, o: ReattachOptions): Promise<Reattached> {
  const deadline = o.now() + o.timeoutMs;
  let lastState: DeploymentState | undefined;
  let lastError = "";
  while (o.now() < deadline) {
    try {
      await o.sleep(o.pollIntervalMs, o.signal);
      const status = await o.api.getStatus(o.signal);
      if (status.lastDeployment?.id === id) {
        o.log(`${o.target}: ${id} ended ${stateName(status.lastDeployment.state)} (agent status)`);
        return { kind: "final", state: status.lastDeployment.state, message: status.lastDeployment.message };
      }
      if (status.deployment?.id !== id) {
        return { kind: "gave-up", why: `the agent's status no longer shows deployment ${id}` };
      }
      if (status.deployment.state !== lastState) {
        lastState = status.deployment.state;
        o.log(`${o.target}: ${id} is ${stateName(lastState)} (agent status)`);
      }
    } catch (e) {
      if (o.signal.aborted) return { kind: "interrupted", lastState };
      if (!(e instanceof AgentCallError)) throw e;
      if (e.message !== lastError) o.log(`${o.target}: still no answer: ${e.message}`);
      lastError = e.message;
    }
  }
  return {
    kind: "gave-up",
    why: `no final state from the agent within ${Math.round(o.timeoutMs / 100) / 10}s${lastError === "" ? "" : ` (${lastError})`}`,
  };
}

export interface PushSummary {
  readonly compression: string;
  /** Paths in the closure. */
  readonly pathsTotal: number;
  /** Paths the agent did not have. */
  readonly pathsMissing: number;
  /** NAR bytes of the missing paths (uncompressed). */
  readonly bytesMissing: number;
  /** What the agent reported for the push (0 when nothing was pushed). */
  readonly pathsImported: number;
  readonly pathsSkipped: number;
  readonly narBytes: number;
  /** NarChunk bytes sent (compressed size when compressing); null when the closure code did not say. */
  readonly wireBytes: number | null;
  readonly signed: boolean;
  readonly seconds: number;
}

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
  readonly error: { readonly status: string; readonly details: string } | null;
  readonly push: PushSummary | null;
  readonly events: readonly EventJson[];
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
}): DeploymentReport {
  const { followed } = input;
  const verdict = judge(input.operation, input.action, followed.end);
  const last = followed.events[followed.events.length - 1];
  const withId = followed.events.find((e) => e.deploymentId !== "");
  const finalMessage = last?.final === true && last.message !== "" ? last.message : "";
  const errorText = followed.error === undefined ? "" : followed.error.message;
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
    reason: [verdict.reason, finalMessage, errorText, followed.note ?? ""]
      .filter((s) => s !== "")
      .join(" — "),
    error:
      followed.error === undefined
        ? null
        : { status: followed.error.statusName, details: followed.error.details },
    push: input.push,
    events: followed.events.map(eventJson),
  };
}

/** The human summary on stdout. */
export function reportText(r: DeploymentReport): string {
  const head = `${r.target}: ${r.operation} ${r.outcome}`;
  const gens =
    r.generation === null
      ? ""
      : ` (generation ${r.generation}${r.previousGeneration === null ? "" : `, previous ${r.previousGeneration}`})`;
  const id = r.deploymentId === null ? "" : `\ndeployment ${r.deploymentId}`;
  return `${head}${gens}: ${r.reason}${id}`;
}

export function logEvent(log: (line: string) => void, target: string): (e: DeploymentEvent) => void {
  return (e) => log(`${target}: ${eventLine(e)}`);
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
    error: e instanceof AgentCallError ? { status: e.statusName, details: e.details } : null,
    push: input.push,
    events: [],
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
  if (e instanceof UsageError || !isUserError(e)) throw e;
  return e;
}

/** A report as the command result: JSON document, human summary, exit code. */
export function reportResult(report: DeploymentReport): CommandResult {
  return { exitCode: report.exitCode, json: report, human: reportText(report) };
}
