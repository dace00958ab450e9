import { AgentError } from "../errors.js";
import type { DeploymentKind, DeploymentRecord } from "./record.js";

/** What a caller wants to start; a refused caller is told about it. */
export interface Claim {
  /** The id the deployment will have if it gets as far as its record. */
  readonly id: string;
  readonly kind: DeploymentKind;
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
 * The ONE place that decides whether a deployment may start. Deciding and
 * claiming are one synchronous step, and the claim is held until the caller
 * has persisted its pending record (from then on `active()` refuses), so no
 * await between the check and the record lets a second caller through.
 * Nobody queues: a refused caller fails at once.
 */
export class AdmissionGate {
  private claim: Claim | undefined;

  constructor(private readonly active: () => DeploymentRecord | undefined) {}

  /** Throws FAILED_PRECONDITION naming the deployment that holds the robot. */
  enter(claim: Claim): Admission {
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
