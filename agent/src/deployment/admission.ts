import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { AgentError } from "../errors.js";
import type { HoldSplit } from "../holds/override.js";
import { clip as clipName, MAX_NAME } from "../holds/types.js";
import type { Clock, HoldsPort, SystemInspector } from "./ports.js";
import type { DeploymentKind, DeploymentRecord } from "./record.js";
import type { RollbackOptions } from "./request.js";

// Admission: the ONE place that decides whether a deployment may start. AdmissionControl.run
// checks the switch lock and the holds inside AdmissionGate, which lets one deployment at a time.

/** Reading every hold source (a ROS master query among them) is bounded. */
const HOLD_CHECK_MS = 10_000;

/** What a caller wants to start; a refused caller is told about it. */
export interface Claim {
  /** The id the deployment will have if it gets as far as its record. */
  readonly id: string;
  readonly kind: DeploymentKind | "maintenance";
  /** Store path or generation, in words (clipped in messages). */
  readonly target: string;
}

export interface Admission {
  readonly id: string;
  /** Gives the gate back. Call once the pending record is persisted, or the request failed. */
  release(): void;
}

/** Messages echo a target that came from a request: keep them short. */
const MAX_TARGET = 120;

/**
 * One deployment at a time. Deciding and claiming are one synchronous step, and the claim is
 * held until the caller has persisted its pending record (from then on `active()` refuses), so
 * no await between the check and the record lets a second caller through.
 * Nobody queues: a refused caller fails at once.
 */
export class AdmissionGate {
  private claim: Claim | undefined;
  /** Maintenance (a garbage collection) holding the gate; a deployment stops it and goes first. */
  private yielding: { readonly label: string; readonly stop: () => Promise<void> } | undefined;

  constructor(private readonly active: () => DeploymentRecord | undefined) {}

  /** Stops the maintenance holding the gate and resolves once it gave the gate back; undefined: none. */
  preempt(): Promise<void> | undefined {
    return this.yielding?.stop();
  }

  /**
   * Holds the gate for work that must never run beside a deployment and yields to one: `stop`
   * ends it (a deployment's admission awaits it). Throws FAILED_PRECONDITION while a deployment runs.
   */
  enterYielding(label: string, stop: () => Promise<void>): Admission {
    const admission = this.enter({ id: label, kind: "maintenance", target: label });
    this.yielding = { label, stop };
    return {
      id: label,
      release: () => {
        this.yielding = undefined;
        admission.release();
      },
    };
  }

  /** Throws FAILED_PRECONDITION naming the deployment that holds the robot. */
  enter(claim: Claim): Admission {
    if (this.yielding !== undefined) {
      throw new AgentError("FAILED_PRECONDITION", `${clip(this.yielding.label)} is running`);
    }
    if (this.claim !== undefined) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `deployment ${this.claim.id} (${this.claim.kind} of ${clip(this.claim.target)}) is being started`,
      );
    }
    const active = this.active();
    if (active !== undefined) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `deployment ${active.id} (${active.kind} of ${clip(active.storePath)}) is still running, state ${active.state}`,
      );
    }
    this.claim = claim;
    let held = true;
    return {
      id: claim.id,
      release: () => {
        if (!held) return;
        held = false;
        this.claim = undefined;
      },
    };
  }
}

function clip(s: string): string {
  return s.length <= MAX_TARGET ? s : `${s.slice(0, MAX_TARGET)}…`;
}

export interface AdmissionDeps {
  readonly system: Pick<SystemInspector, "switchLockHeld">;
  readonly holds?: HoldsPort | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Decides whether a controller's Activate or Rollback may start: the gate, NixOS's switch
 * lock and the holds (with the operator's overrides, logged).
 */
export class AdmissionControl {
  private readonly gate: AdmissionGate;

  constructor(
    private readonly deps: AdmissionDeps,
    active: () => DeploymentRecord | undefined,
  ) {
    this.gate = new AdmissionGate(active);
  }

  /**
   * Runs `start` holding the admission gate, which is entered synchronously
   * (before any await) and held until `start` has persisted its record or failed.
   */
  async run(
    kind: DeploymentKind,
    target: string,
    request: RollbackOptions,
    /** Called once admitted, before the checks: work to start beside them. */
    admittedNow: ((id: string) => void) | undefined,
    start: (
      admission: Admission,
      overriddenHolds: readonly string[] | undefined,
    ) => Promise<DeploymentRecord>,
  ): Promise<DeploymentRecord> {
    const claim: Claim = { id: newDeploymentId(this.deps.clock.now()), kind, target };
    // A garbage collection yields: stopped (Nix's GC is safe to interrupt) before the checks.
    const yielded = this.gate.preempt();
    if (yielded !== undefined) await yielded;
    const admission = this.gate.enter(claim);
    admittedNow?.(admission.id);
    try {
      if (await this.deps.system.switchLockHeld()) {
        throw new AgentError(
          "FAILED_PRECONDITION",
          "another switch-to-configuration holds /run/nixos/switch-to-configuration.lock",
        );
      }
      const override = request.overrideHolds ?? [];
      const split = await this.deps.holds?.assertFree(AbortSignal.timeout(HOLD_CHECK_MS), override);
      if (override.length > 0) this.logOverride(claim, request.client, override, split);
      const overridden = split?.overridden.map((h) => h.name) ?? [];
      return await start(admission, overridden.length > 0 ? overridden : undefined);
    } finally {
      admission.release();
    }
  }

  /** Runs maintenance that never overlaps a deployment and that a deployment's admission stops. */
  async runYielding<T>(label: string, stop: () => Promise<void>, work: () => Promise<T>): Promise<T> {
    const admission = this.gate.enterYielding(label, stop);
    try {
      return await work();
    } finally {
      admission.release();
    }
  }

  /** An operator went ahead despite holds: said at warn, whoever asked, whatever matched. */
  private logOverride(
    claim: Claim,
    client: string | undefined,
    override: readonly string[],
    split: HoldSplit | undefined,
  ): void {
    const names = (xs: readonly string[]) => xs.slice(0, 32).map((n) => clipName(n, MAX_NAME));
    const overridden = names(split?.overridden.map((h) => h.name) ?? []);
    const notHeld = names(split?.notHeld ?? override);
    this.deps.log.warn(
      { deploymentId: claim.id, kind: claim.kind, client: client ?? "unknown", overridden, notHeld },
      overridden.length > 0
        ? `${claim.kind} goes ahead despite hold(s): ${overridden.join(", ")}` +
            (notHeld.length > 0 ? `; not held now: ${notHeld.join(", ")}` : "")
        : `override of hold(s) that are not held now: ${notHeld.join(", ")}`,
    );
  }
}

export function newDeploymentId(now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  return `d-${t}-${randomBytes(3).toString("hex")}`;
}
