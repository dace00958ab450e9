import { status } from "@grpc/grpc-js";
import {
  type ActivateRequest,
  ActivationAction,
  type Deployment,
  type DeploymentEvent,
  DeploymentKind,
  type GetStatusResponse,
  HELD_ERROR_CODE,
  type HealthReport,
  type Hold,
  RollbackReason,
  DeploymentState as S,
  type UnitChanges,
} from "@ros-rollback/proto";
import { type FakeAgent, type FakeError, fullEvent, type StreamStep } from "./fake-agent.js";

/** A health report; `failing` are [id, reason] pairs (every other check passes). */
export function healthReport(
  failing: readonly (readonly [string, string])[] = [],
  extra: Partial<HealthReport> = {},
): HealthReport {
  const ids = ["unit:talker.service", "topic:/chatter", "ros:master"];
  for (const [id] of failing) if (!ids.includes(id)) ids.push(id);
  const checks = ids.map((id) => {
    const f = failing.find(([fid]) => fid === id);
    return {
      id,
      kind: id.split(":")[0] ?? "",
      healthy: f === undefined,
      reason: f?.[1] ?? "ok",
      durationMs: 3,
    };
  });
  return {
    healthy: failing.length === 0,
    reason: failing[0]?.[1] ?? `${checks.length} checks healthy`,
    checks,
    atUnixMs: Date.now(),
    phase: "checking",
    stableForSeconds: 0,
    ...extra,
  };
}

export interface SimOptions {
  readonly id?: string;
  /** Health rounds while CHECKING_HEALTH, one per event; the last decides. Default: one healthy round. */
  readonly health?: readonly HealthReport[];
  /** Time between events (ms). */
  readonly stepMs?: number;
  /** How long the agent waits for Confirm (ms), whatever the request asked: tests run on short deadlines. */
  readonly confirmWindowMs?: number;
  /** How long rolling back takes (ms). */
  readonly rollbackMs?: number;
  /** Called on entering a state, before its event is sent (cut the network there, ...). */
  readonly onState?: (state: S) => void;
  /** The answer to CheckHealth (default: the latest round, or healthy). */
  readonly checkHealth?: HealthReport | FakeError;
  readonly base?: GetStatusResponse;
  /** What the switch did to units: in the deployment and in every event from ACTIVATED on (like the agent). */
  readonly unitChanges?: UnitChanges;
  /** Called after each GetStatus answer was made (with the count so far): change holds between poll and Activate. */
  readonly afterStatus?: (n: number) => void;
}

/**
 * The agent's deployment behaviour as the lead described it, in real time
 * on short timers: PENDING → PROFILE_SET → ACTIVATING → ACTIVATED →
 * CHECKING_HEALTH (one event per round) → AWAITING_CONFIRMATION (events
 * while waiting) → SUCCEEDED on Confirm, or NOT_CONFIRMED → ROLLING_BACK →
 * ROLLED_BACK at the deadline (SUCCEEDED with magic rollback off); unhealthy
 * → UNHEALTHY → ROLLING_BACK → ROLLED_BACK (FAILED with auto rollback off);
 * self_confirm → SUCCEEDED once healthy; BOOT → AWAITING_REBOOT (final).
 * The deployment runs on whether or not anyone listens, so a test can cut
 * the network and the controller must find the outcome through GetStatus,
 * Watch and Confirm, like with the real agent.
 */
export class SimulatedAgent {
  readonly id: string;
  request: ActivateRequest | undefined;
  current: Deployment | undefined;
  last: Deployment | undefined;
  latestHealth: HealthReport | undefined;
  /** Every event emitted, listened to or not. */
  readonly emitted: DeploymentEvent[] = [];
  /** Resolves when the deployment reached a final state (or AWAITING_REBOOT). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly streams = new Set<EventQueue>();
  private confirmed = false;
  private wake: (() => void) | undefined;
  private deadline = 0;
  /** While any: Activate is refused like the real agent's (FAILED_PRECONDITION, trailer code HELD). */
  holds: Hold[] = [];
  /** Activate requests refused because of holds. */
  refusedHeld = 0;
  /** The holds the admitted Activate went ahead despite. */
  overridden: string[] = [];
  private statusCalls = 0;

  constructor(
    agent: FakeAgent,
    private readonly o: SimOptions = {},
  ) {
    this.id = o.id ?? "d-sim-1";
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    agent.handlers = {
      ...agent.handlers,
      getStatus: () => this.status(),
      activate: (req) => this.activate(req),
      confirm: (req) => this.confirm(req.deploymentId),
      watch: () => this.watch(),
      checkHealth: () => o.checkHealth ?? this.latestHealth ?? healthReport(),
    };
  }

  status(): GetStatusResponse {
    const base = this.o.base ?? {
      agentVersion: "0.2.0",
      hostname: "robot1",
      currentSystem: "/nix/store/old-system",
      currentGeneration: 41,
      profileSystem: "/nix/store/old-system",
      holds: [],
    };
    const answer = {
      ...base,
      holds: [...this.holds],
      deployment: this.current,
      lastDeployment: this.last,
      health: this.latestHealth,
    };
    this.o.afterStatus?.(++this.statusCalls);
    return answer;
  }

  /** After a reboot into a BOOT deployment: the agent judges health and waits for Confirm again. */
  rebooted(): void {
    if (this.last?.state !== S.DEPLOYMENT_STATE_AWAITING_REBOOT) throw new Error("not awaiting a reboot");
    this.current = this.last;
    this.last = undefined;
    void this.judgeAndConfirm(this.request?.options?.selfConfirm === true);
  }

  private activate(req: ActivateRequest): AsyncIterable<StreamStep> | StreamStep[] {
    // Like the agent: exactly the holds named in override_holds are gone ahead despite.
    const blocking = this.holds.filter((h) => !req.overrideHolds.includes(h.name));
    if (blocking.length > 0) {
      this.refusedHeld++;
      const named = blocking.map((h) => `hold "${h.name}": ${h.reason}`).join("; ");
      const hint = blocking.map((h) => `--override-hold ${h.name}`).join(" ");
      return [
        {
          error: {
            code: status.FAILED_PRECONDITION,
            details: `the robot is held: ${named} (to go ahead anyway: ${hint})`,
            agentCode: HELD_ERROR_CODE,
          },
        },
      ];
    }
    this.overridden = this.holds.filter((h) => req.overrideHolds.includes(h.name)).map((h) => h.name);
    this.request = req;
    const q = this.subscribe();
    void this.run(req);
    return q;
  }

  private subscribe(): EventQueue {
    const q = new EventQueue(() => this.streams.delete(q));
    this.streams.add(q);
    return q;
  }

  private watch(): AsyncIterable<StreamStep> {
    const q = new EventQueue(() => this.streams.delete(q));
    const latest = [...this.emitted].reverse().find((e) => e.deploymentId === this.current?.id);
    if (this.current !== undefined && latest !== undefined) {
      q.push(latest);
      this.streams.add(q);
    } else {
      const lastEvent = [...this.emitted].reverse().find((e) => e.deploymentId === this.last?.id);
      if (lastEvent !== undefined) q.push({ ...lastEvent, final: true });
      q.end();
    }
    return q;
  }

  private confirm(id: string) {
    if (id !== this.id) {
      return { error: { code: status.NOT_FOUND, details: `no deployment ${id}` } };
    }
    const d = this.current ?? this.last;
    if (d?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) {
      this.confirmed = true;
      this.wake?.();
      return { deployment: { ...d, state: S.DEPLOYMENT_STATE_SUCCEEDED } };
    }
    if (d?.state === S.DEPLOYMENT_STATE_SUCCEEDED && d === this.last) return { deployment: d };
    return {
      error: {
        code: status.FAILED_PRECONDITION,
        details: `deployment ${id} is ${S[d?.state ?? 0]?.replace("DEPLOYMENT_STATE_", "")}, not awaiting confirmation`,
      },
    };
  }

  private async run(req: ActivateRequest): Promise<void> {
    const action = req.action;
    const generation = action === ActivationAction.ACTIVATION_ACTION_TEST ? 0 : 42;
    this.current = {
      id: this.id,
      state: S.DEPLOYMENT_STATE_PENDING,
      action,
      storePath: req.storePath,
      generation,
      previousGeneration: 41,
      previousStorePath: "/nix/store/old-system",
      startedAtUnixMs: Date.now(),
      updatedAtUnixMs: Date.now(),
      message: "",
      kind: DeploymentKind.DEPLOYMENT_KIND_ACTIVATE,
      confirmDeadlineUnixMs: 0,
      rollbackReason: RollbackReason.ROLLBACK_REASON_UNSPECIFIED,
      options: req.options,
      snapshots: [],
      restores: [],
      unitChanges: undefined,
      rollbackUnitChanges: undefined,
      overriddenHolds: this.overridden,
    };
    await this.step(S.DEPLOYMENT_STATE_PENDING);
    if (
      action === ActivationAction.ACTIVATION_ACTION_SWITCH ||
      action === ActivationAction.ACTIVATION_ACTION_BOOT
    ) {
      await this.step(S.DEPLOYMENT_STATE_PROFILE_SET);
    }
    await this.step(S.DEPLOYMENT_STATE_ACTIVATING);
    if (action === ActivationAction.ACTIVATION_ACTION_BOOT) {
      await this.step(S.DEPLOYMENT_STATE_AWAITING_REBOOT, {
        final: true,
        message: "generation 42 is the boot default; it is judged after the next boot",
      });
      return;
    }
    if (action === ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE) {
      await this.step(S.DEPLOYMENT_STATE_DRY_RUN_DONE, { final: true });
      return;
    }
    if (this.current !== undefined) this.current.unitChanges = this.o.unitChanges;
    await this.step(S.DEPLOYMENT_STATE_ACTIVATED, { exitCode: 0 });
    await this.judgeAndConfirm(req.options?.selfConfirm === true);
  }

  private async judgeAndConfirm(selfConfirm: boolean): Promise<void> {
    const options = this.request?.options;
    const rounds = this.o.health ?? [healthReport()];
    let last = healthReport();
    for (const h of rounds) {
      last = h;
      this.latestHealth = h;
      await this.step(S.DEPLOYMENT_STATE_CHECKING_HEALTH, { health: h });
    }
    if (!last.healthy) {
      await this.step(S.DEPLOYMENT_STATE_UNHEALTHY, { health: last, message: last.reason });
      if (options?.autoRollback === false) {
        await this.step(S.DEPLOYMENT_STATE_FAILED, {
          final: true,
          message: `unhealthy, left in place (auto rollback is off): ${last.reason}`,
        });
      } else {
        await this.rollBack(RollbackReason.ROLLBACK_REASON_UNHEALTHY, last.reason);
      }
      return;
    }
    if (selfConfirm) {
      await this.step(S.DEPLOYMENT_STATE_SUCCEEDED, {
        final: true,
        message: "healthy; confirmed by the agent",
      });
      return;
    }
    this.deadline = Date.now() + (this.o.confirmWindowMs ?? 400);
    if (this.current !== undefined) this.current.confirmDeadlineUnixMs = this.deadline;
    await this.step(S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION, { health: last }, false);
    while (!this.confirmed && Date.now() < this.deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(this.o.stepMs ?? 20, this.deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (!this.confirmed && Date.now() < this.deadline) {
        this.emit(S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION, { health: last });
      }
    }
    if (this.current !== undefined) this.current.confirmDeadlineUnixMs = 0;
    if (this.confirmed) {
      await this.step(S.DEPLOYMENT_STATE_SUCCEEDED, { final: true, message: "confirmed" });
      return;
    }
    await this.step(S.DEPLOYMENT_STATE_NOT_CONFIRMED, { message: "no Confirm before the deadline" });
    if (options?.magicRollback === false) {
      await this.step(S.DEPLOYMENT_STATE_SUCCEEDED, {
        final: true,
        message: "not confirmed; kept (magic rollback is off)",
      });
      return;
    }
    await this.rollBack(RollbackReason.ROLLBACK_REASON_NOT_CONFIRMED, "not confirmed by the deadline");
  }

  private async rollBack(reason: RollbackReason, why: string): Promise<void> {
    await this.step(S.DEPLOYMENT_STATE_ROLLING_BACK, { rollbackReason: reason });
    await sleep(this.o.rollbackMs ?? 20);
    await this.step(S.DEPLOYMENT_STATE_ROLLED_BACK, {
      final: true,
      rollbackReason: reason,
      message: `${why}; rolled back to generation 41`,
    });
  }

  /** Enters a state: onState, the event, then a pause (unless `pause` is false). */
  private async step(state: S, extra: Partial<DeploymentEvent> = {}, pause = true): Promise<void> {
    this.o.onState?.(state);
    this.emit(state, extra);
    if (pause && extra.final !== true) await sleep(this.o.stepMs ?? 20);
  }

  private emit(state: S, extra: Partial<DeploymentEvent>): void {
    const d = this.current;
    if (d === undefined) throw new Error("no deployment");
    d.state = state;
    d.updatedAtUnixMs = Date.now();
    if (extra.message !== undefined) d.message = extra.message;
    if (extra.rollbackReason !== undefined) d.rollbackReason = extra.rollbackReason;
    const e = fullEvent({
      deploymentId: d.id,
      state,
      timestampUnixMs: Date.now(),
      generation: d.generation,
      previousGeneration: d.previousGeneration,
      confirmDeadlineUnixMs: d.confirmDeadlineUnixMs,
      unitChanges: d.unitChanges,
      ...extra,
    });
    this.emitted.push(e);
    if (e.final) {
      this.last = d;
      this.current = undefined;
    }
    for (const q of this.streams) {
      q.push(e);
      if (e.final) q.end();
    }
    if (e.final) this.resolveDone();
  }
}

/** The events for one stream, as an async iterable of StreamSteps. */
class EventQueue implements AsyncIterable<StreamStep> {
  private readonly items: DeploymentEvent[] = [];
  private ended = false;
  private waiting: (() => void) | undefined;

  constructor(private readonly onClose: () => void) {}

  push(e: DeploymentEvent): void {
    this.items.push(e);
    this.waiting?.();
  }

  end(): void {
    this.ended = true;
    this.waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StreamStep> {
    try {
      for (;;) {
        const next = this.items.shift();
        if (next !== undefined) {
          yield { event: next };
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.waiting = resolve;
        });
        this.waiting = undefined;
      }
    } finally {
      this.onClose();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
