import { DeploymentState, GrpcStatus, type RollbackReason } from "@ros-rollback/proto";
import type { AgentApi } from "../../agent-api.js";
import { isUserError } from "../../core/errors.js";
import { stateName } from "../../report/enum-names.js";
import { clockTime, formatSeconds } from "../../report/views.js";
import type { Confirmer } from "./confirming.js";
import { attemptTimeout, type FollowOptions } from "./options.js";
import { readEvents } from "./reading.js";
import type { FollowState } from "./state.js";

export type Reattached =
  | {
      readonly kind: "final";
      readonly state: DeploymentState;
      readonly rollbackReason: RollbackReason;
      readonly note: string;
      readonly statusMessage: string | undefined;
    }
  | { readonly kind: "interrupted" }
  | { readonly kind: "gave-up"; readonly why: string };

/**
 * After the first stream broke: new connections, GetStatus, confirm, Watch
 * (GetStatus polls for agents without Watch) — until the agent's record of
 * `id` is final, or out of time (the confirm deadline + reconnect grace while
 * unreachable, --follow-timeout overall).
 */
export async function reattach(
  o: FollowOptions,
  state: FollowState,
  confirmer: Confirmer,
  id: string,
): Promise<Reattached> {
  const followUntil = o.now() + o.followTimeoutMs;
  const reconnectUntil = () =>
    state.deadline > 0 ? Math.min(followUntil, state.deadline + o.reconnectGraceMs) : followUntil;
  let api: AgentApi | undefined;
  let watch = true;
  let lastError = "";
  let lastState: DeploymentState | undefined;
  const gaveUp = (): Reattached => {
    const error = lastError === "" ? "" : ` (${lastError})`;
    if (api === undefined && state.deadline > 0 && state.deadline + o.reconnectGraceMs < followUntil) {
      return {
        kind: "gave-up",
        why:
          `could not reach the agent again by the confirm deadline (${clockTime(state.deadline)}) + ` +
          `${formatSeconds(o.reconnectGraceMs / 1000)}${error}; unless it was confirmed, the agent rolls back by itself`,
      };
    }
    return {
      kind: "gave-up",
      why: `no final state from the agent within ${Math.round(o.followTimeoutMs / 100) / 10}s${error}`,
    };
  };
  try {
    for (;;) {
      const limit = api === undefined ? reconnectUntil() : followUntil;
      if (o.now() >= limit) return gaveUp();
      try {
        api ??= await o.connect(attemptTimeout(o, limit), o.signal);
        const status = await api.getStatus(o.signal);
        if (status.health !== undefined) state.health = status.health;
        const last = status.lastDeployment;
        if (last?.id === id) {
          o.log(`${o.target}: ${id} ended ${stateName(last.state)} (agent status)`);
          await confirmer.stop(`the agent stopped waiting for it (${stateName(last.state)})`);
          return {
            kind: "final",
            state: last.state,
            rollbackReason: last.rollbackReason,
            note: "learned from the agent's status",
            statusMessage: last.message === "" ? undefined : last.message,
          };
        }
        const d = status.deployment;
        if (d?.id !== id)
          return { kind: "gave-up", why: `the agent's status no longer shows deployment ${id}` };
        if (d.confirmDeadlineUnixMs > 0) state.deadline = Math.max(state.deadline, d.confirmDeadlineUnixMs);
        if (d.state !== lastState) {
          lastState = d.state;
          o.log(`${o.target}: ${id} is ${stateName(lastState)} (agent status)`);
        }
        if (d.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) {
          confirmer.start(id, d.confirmDeadlineUnixMs, 0);
        }
        if (watch) {
          const current = api;
          const r = await readEvents(o, state, confirmer, (signal) => current.watch(signal), id);
          switch (r.kind) {
            case "final":
              return {
                kind: "final",
                state: r.event.state,
                rollbackReason: r.event.rollbackReason,
                note: "followed on a new connection",
                statusMessage: undefined,
              };
            case "interrupted":
              return { kind: "interrupted" };
            case "error":
              if (r.error.code === GrpcStatus.UNIMPLEMENTED) {
                watch = false; // an agent without Watch: poll its status
              } else {
                throw r.error;
              }
              break;
            case "ended":
            case "other":
              break; // ask the status again
          }
        }
      } catch (e) {
        if (o.signal.aborted) return { kind: "interrupted" };
        if (!isUserError(e)) throw e;
        api?.close();
        api = undefined;
        if (e.message !== lastError) o.log(`${o.target}: still no answer: ${e.message}${timeLeft(o, state)}`);
        lastError = e.message;
      }
      try {
        await o.sleep(o.pollIntervalMs, o.signal);
      } catch {
        return { kind: "interrupted" };
      }
    }
  } finally {
    api?.close();
  }
}

function timeLeft(o: FollowOptions, state: FollowState): string {
  if (state.deadline <= 0) return "";
  const left = (state.deadline - o.now()) / 1000;
  return left > 0
    ? ` (${formatSeconds(left)} to the confirm deadline)`
    : " (the confirm deadline has passed)";
}
