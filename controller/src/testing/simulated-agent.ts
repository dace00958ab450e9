import { status } from "@grpc/grpc-js";
import {
  type ActivateRequest,
  type GetStatusResponse,
  HELD_ERROR_CODE,
  type Hold,
  DeploymentState as S,
} from "@ros-rollback/proto";
import { EventQueue } from "./event-queue.js";
import type { FakeAgent, StreamStep } from "./fake-agent.js";
import { healthReport } from "./sim-health.js";
import { type SimOptions, SimulatedDeployment } from "./simulated-deployment.js";

export { healthReport } from "./sim-health.js";
export type { SimOptions } from "./simulated-deployment.js";

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
export class SimulatedAgent extends SimulatedDeployment {
  /** While any: Activate is refused like the real agent's (FAILED_PRECONDITION, trailer code HELD). */
  holds: Hold[] = [];
  /** Activate requests refused because of holds. */
  refusedHeld = 0;
  private statusCalls = 0;

  constructor(agent: FakeAgent, o: SimOptions = {}) {
    super(o);
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
}
