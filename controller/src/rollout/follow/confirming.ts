import { AgentCallError } from "../../agent-api/call-error.js";
import type { AgentApi } from "../../agent-api.js";
import { isUserError } from "../../core/errors.js";
import type { Confirmation } from "../../report/followed.js";
import { isRefusal } from "../../report/outcome.js";
import { formatSeconds } from "../../report/views.js";
import {
  attemptTimeout,
  CONFIRM_SLACK_MS,
  DEFAULT_CONFIRM_WINDOW_MS,
  type FollowOptions,
  localDeadline,
} from "./options.js";

/** How long a stopped confirm procedure may still wait for the answer to a Confirm it sent. */
const ANSWER_WAIT_MS = 5_000;

interface ConfirmTask {
  readonly stop: AbortController;
  done: Promise<void>;
  /** A Confirm RPC was sent and its answer is awaited. */
  rpcInFlight: boolean;
}

/** The abort reason when the confirm procedure is stopped because it is no longer needed. */
class StoppedConfirming extends Error {}

/**
 * The confirm procedure, beside reading events: over a NEW connection each
 * attempt (never the one that reported the state — a Confirm must prove that
 * a connection can be made after the switch), retried until the deadline.
 */
export class Confirmer {
  confirmation: Confirmation | undefined;
  /** Deployments we ran the confirm procedure for (once each). */
  private readonly tried = new Set<string>();
  /** The confirm procedure while it runs. */
  private running: ConfirmTask | undefined;
  /** A bug thrown by the confirm procedure, rethrown when it is stopped. */
  private bug: { readonly error: unknown } | undefined;
  private noConfirmLogged = false;

  constructor(private readonly o: FollowOptions) {}

  /** Starts confirming `id` (once per deployment). */
  start(id: string, agentDeadline: number, eventTime: number): void {
    const { o } = this;
    if (!o.confirm) {
      if (!this.noConfirmLogged) o.log(`${o.target}: not confirming ${id} (--no-confirm)`);
      this.noConfirmLogged = true;
      return;
    }
    if (id === "" || this.tried.has(id)) return;
    this.tried.add(id);
    const stop = new AbortController();
    const task: ConfirmTask = { stop, done: Promise.resolve(), rpcInFlight: false };
    task.done = this.run(task, id, agentDeadline, eventTime, AbortSignal.any([o.signal, stop.signal])).then(
      () => undefined,
      (e: unknown) => {
        this.bug = { error: e };
      },
    );
    this.running = task;
  }

  /**
   * Stops the confirm procedure (if it runs) and waits for it; rethrows a bug
   * it hit. `letAnswerArrive`: a Confirm already sent may finish first.
   */
  async stop(why: string, letAnswerArrive = true): Promise<void> {
    const c = this.running;
    if (c !== undefined) {
      if (letAnswerArrive && c.rpcInFlight) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([c.done, new Promise((resolve) => (timer = setTimeout(resolve, ANSWER_WAIT_MS)))]);
        clearTimeout(timer);
      }
      c.stop.abort(new StoppedConfirming(why));
      await c.done;
      this.running = undefined;
    }
    if (this.bug !== undefined) throw this.bug.error;
  }

  private async run(
    task: ConfirmTask,
    id: string,
    agentDeadline: number,
    eventTime: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { o } = this;
    const now = o.now();
    const deadline =
      agentDeadline > 0
        ? localDeadline(agentDeadline, { timestampUnixMs: eventTime }, now)
        : now + DEFAULT_CONFIRM_WINDOW_MS;
    const until = deadline + CONFIRM_SLACK_MS;
    o.log(`${o.target}: confirming ${id} over a new connection`);
    let lastError = "";
    const notConfirmed = (why: string) => {
      this.confirmation = { deploymentId: id, confirmed: false, error: why };
    };
    while (o.now() < until) {
      let api: AgentApi | undefined;
      try {
        api = await o.connect(attemptTimeout(o, until), signal);
        task.rpcInFlight = true;
        await api.confirm(id, signal).finally(() => {
          task.rpcInFlight = false;
        });
        const left = Math.max(0, deadline - o.now()) / 1000;
        o.log(
          `${o.target}: confirmed ${id} over a new connection, ${formatSeconds(left)} before the deadline`,
        );
        this.confirmation = { deploymentId: id, confirmed: true, error: undefined };
        return;
      } catch (e) {
        if (signal.aborted) {
          const reason: unknown = signal.reason;
          if (reason instanceof StoppedConfirming) {
            notConfirmed(`${reason.message}${lastError === "" ? "" : `; last attempt: ${lastError}`}`);
          }
          return;
        }
        if (!isUserError(e)) throw e;
        if (e instanceof AgentCallError && isRefusal(e.code)) {
          o.log(`${o.target}: the agent refused to confirm ${id}: ${e.message}`);
          notConfirmed(e.message);
          return;
        }
        if (e.message !== lastError) {
          const left = Math.max(0, deadline - o.now()) / 1000;
          o.log(`${o.target}: cannot confirm yet (${e.message}); ${formatSeconds(left)} left, retrying`);
        }
        lastError = e.message;
      } finally {
        api?.close();
      }
      try {
        await o.sleep(Math.max(0, Math.min(o.pollIntervalMs, until - o.now())), signal);
      } catch {
        const reason: unknown = signal.reason;
        if (reason instanceof StoppedConfirming)
          notConfirmed(`${reason.message}; last attempt: ${lastError}`);
        return;
      }
    }
    const why = `no new connection to the agent succeeded before the confirm deadline${lastError === "" ? "" : ` (${lastError})`}`;
    o.log(`${o.target}: could not confirm ${id}: ${why}`);
    notConfirmed(why);
  }
}
