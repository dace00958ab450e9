import {
  type ActivateRequest,
  ActivationAction,
  type Deployment,
  type DeploymentEvent,
  DeploymentKind,
  type GetStatusResponse,
  type HealthReport,
  RollbackReason,
  DeploymentState as S,
  type UnitChanges,
} from "@ros-rollback/proto";
import type { EventQueue } from "./event-queue.js";
import type { FakeError } from "./fake-agent.js";
import { fullEvent } from "./fake-agent.js";
import { healthReport } from "./sim-health.js";

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
  /** Awaited once health is judged good, before the confirm window opens: start a watcher first, whatever the host's load. */
  readonly beforeAwaiting?: () => Promise<void>;
}

/**
 * One deployment's life in the simulated agent (testing/simulated-agent.ts), on
 * short timers; every event goes to each open stream.
 */
export class SimulatedDeployment {
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
  protected readonly streams = new Set<EventQueue>();
  protected confirmed = false;
  protected wake: (() => void) | undefined;
  private deadline = 0;
  /** The holds the admitted Activate went ahead despite. */
  overridden: string[] = [];

  constructor(protected readonly o: SimOptions) {
    this.id = o.id ?? "d-sim-1";
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  protected async run(req: ActivateRequest): Promise<void> {
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
      startedBy: "",
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

  protected async judgeAndConfirm(selfConfirm: boolean): Promise<void> {
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
    await this.o.beforeAwaiting?.();
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
