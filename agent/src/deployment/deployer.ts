import type { Logger } from "pino";
import type { DataPort } from "../data/types.js";
import { AgentError } from "../errors.js";
import type { SystemProfile } from "../generations/profile.js";
import type { SwitchAction } from "../system/switcher.js";
import { AdmissionControl } from "./admission.js";
import { finishCountedRollback, takenUpAfterBoot } from "./boot-steps.js";
import { CurrentDeployment, type DeploymentListener } from "./current.js";
import { type ActivationReads, activationReads, pendingActivate, pendingRollback } from "./pending.js";
import type { Clock, HealthPort, HoldsPort, SystemInspector } from "./ports.js";
import type { DeploymentRecord } from "./record.js";
import type { RecordStore } from "./record-file.js";
import {
  compileSettings,
  type DeploymentDefaults,
  type DeployRequest,
  type RollbackOptions,
} from "./request.js";
import { isFinal } from "./states.js";
import type { StepDeps } from "./step-contract.js";
import { runStep } from "./steps.js";
import { EarlyUnits } from "./unit-report.js";

export interface DeployerOptions {
  readonly activationTimeoutMs: number;
  readonly deleteFailedGenerations: boolean;
  /** Defaults for every deployment; a deploy may override them (see DeployRequest). */
  readonly defaults: DeploymentDefaults;
}

export interface DeployerDeps {
  readonly profile: SystemProfile;
  readonly switcher: StepDeps["switcher"];
  readonly health: HealthPort;
  readonly records: RecordStore;
  readonly system: SystemInspector;
  readonly data: DataPort;
  readonly clock: Clock;
  readonly log: Logger;
  readonly options: DeployerOptions;
  /** Consulted by admission for a controller's Activate and Rollback only. */
  readonly holds?: HoldsPort | undefined;
  /** See PendingDeps.bootSpace. */
  readonly bootSpace?: ((system: string) => Promise<void>) | undefined;
  /** Boot counting; absent: `reboot` deployments are refused before they get here. */
  readonly boot?: StepDeps["boot"];
}

/**
 * Owns the one deployment that may run at a time. Whether one may start is decided in
 * admission.ts (AdmissionControl); every change of its record goes through current.ts
 * (CurrentDeployment.setState); the steps that drive it are in steps.ts.
 */
export class Deployer {
  private readonly current: CurrentDeployment;
  private readonly admission: AdmissionControl;
  private running: Promise<void> | undefined;
  /** Id of the record a driver loop is running for: at most one loop per record. */
  private driving: string | undefined;
  private readonly abort = new AbortController();
  /** Ids confirmed by Confirm; the awaiting step turns this into a persisted transition. */
  private readonly confirmations = new Set<string>();
  private readonly earlyUnits = new EarlyUnits();
  private wake: (() => void) | undefined;
  /** A REBOOT_REQUIRED record this boot judges (final, yet driven, and admission waits for it). */
  private afterBoot: string | undefined;

  constructor(private readonly deps: DeployerDeps) {
    this.current = new CurrentDeployment(deps);
    this.admission = new AdmissionControl(deps, () => this.active());
  }

  /** Loads the persisted record and resumes a deployment an earlier agent left unfinished. */
  async start(): Promise<void> {
    await this.current.load();
    if (await finishCountedRollback(this.current.get(), this.deps.system, this.deps.boot)) {
      this.deps.log.warn(
        { deploymentId: this.current.get()?.id },
        "rebooting into the rolled-back generation",
      );
    }
    const latest = this.current.get();
    if (latest !== undefined && (await takenUpAfterBoot(latest, this.deps.system, this.deps.boot))) {
      this.afterBoot = latest.id;
    }
    const r = this.active();
    if (r !== undefined) {
      this.deps.log.warn(
        { deploymentId: r.id, state: r.state },
        "resuming a deployment left unfinished by an earlier agent",
      );
      this.drive();
    }
  }

  /** The deployment in progress, if any. */
  active(): DeploymentRecord | undefined {
    return this.current.active() ?? this.takenUp();
  }

  private takenUp(): DeploymentRecord | undefined {
    const r = this.current.get();
    return r?.state === "reboot_required" && r.id === this.afterBoot ? r : undefined;
  }

  /** The most recent deployment, finished or not. */
  latest(): DeploymentRecord | undefined {
    return this.current.get();
  }

  subscribe(listener: DeploymentListener): () => void {
    return this.current.subscribe(listener);
  }

  async activate(
    storePath: string,
    action: SwitchAction,
    request: DeployRequest = {},
  ): Promise<DeploymentRecord> {
    const settings = compileSettings(this.deps.options.defaults, request);
    let reads: ActivationReads | undefined;
    // Started as soon as admitted, beside the lock and hold checks (issue 13).
    const early = (id: string) => {
      this.earlyUnits.take(id, { switcher: this.deps.switcher, signal: this.abort.signal });
      reads = activationReads(this.deps, storePath, action);
    };
    return this.admission.run("activate", storePath, request, early, async (admission, overriddenHolds) =>
      this.begin({
        ...(await pendingActivate(
          this.deps,
          admission.id,
          storePath,
          action,
          settings,
          overriddenHolds,
          reads,
        )),
        startedBy: request.startedBy,
      }),
    );
  }

  rollback(generation: number | undefined, options: RollbackOptions = {}): Promise<DeploymentRecord> {
    const target = generation === undefined ? "the recorded previous generation" : `generation ${generation}`;
    const settings = compileSettings(this.deps.options.defaults, {});
    return this.admission.run("rollback", target, options, undefined, async (admission, overriddenHolds) =>
      this.begin({
        ...(await pendingRollback(this.deps, admission.id, generation, settings, overriddenHolds)),
        startedBy: options.startedBy,
      }),
    );
  }

  /**
   * Runs maintenance (garbage collection) holding the admission gate: refused while a deployment
   * runs; a deployment's admission calls `stop` and waits for it instead of being refused.
   */
  runYielding<T>(label: string, stop: () => Promise<void>, work: () => Promise<T>): Promise<T> {
    return this.admission.runYielding(label, stop, work);
  }

  /** Stops driving (the persisted record lets the next agent resume). */
  async close(): Promise<void> {
    this.abort.abort(new AgentError("ABORTED", "agent shutting down"));
    await this.running?.catch(() => undefined);
  }

  /**
   * Keeps a deployment that waits for confirmation. Resolves once the
   * confirmation is persisted (or at once if it was kept already).
   */
  async confirm(id: string): Promise<DeploymentRecord> {
    const r = this.current.get();
    if (r === undefined || r.id !== id) {
      throw new AgentError(
        "NOT_FOUND",
        `no deployment ${id} on this robot${r ? ` (the latest is ${r.id})` : ""}`,
      );
    }
    if (r.state === "succeeded") return r;
    if (r.state !== "awaiting_confirmation") {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `deployment ${id} is not waiting for confirmation (state ${r.state})`,
      );
    }
    const settled = new Promise<DeploymentRecord>((resolve) => {
      const off = this.subscribe((next) => {
        if (next.id === id && next.state !== "awaiting_confirmation") {
          off();
          resolve(next);
        }
      });
    });
    this.confirmations.add(id);
    this.wake?.();
    const next = await settled;
    if (next.state !== "succeeded") {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `deployment ${id} could not be confirmed: it became ${next.state} (${next.message})`,
      );
    }
    return next;
  }

  /** Persists the pending record (called while admission is held) and starts driving it. */
  private async begin(record: DeploymentRecord): Promise<DeploymentRecord> {
    await this.current.create(record);
    this.drive();
    return record;
  }

  /**
   * Drives the current record until it is final (or parks). At most one loop
   * per record; a new record's loop starts only after the previous loop returned.
   */
  private drive(): void {
    const id = this.current.get()?.id;
    if (id === undefined || this.driving === id) return;
    this.driving = id;
    const previous = this.running ?? Promise.resolve();
    this.running = previous
      .then(() => this.driveLoop(id))
      .catch((e: unknown) => {
        if (this.abort.signal.aborted) return;
        this.deps.log.error({ err: e, deploymentId: id }, "deployment driver crashed");
      })
      .finally(() => {
        if (this.driving === id) this.driving = undefined;
      });
  }

  private async driveLoop(id: string): Promise<void> {
    const stepDeps: StepDeps = {
      profile: this.deps.profile,
      switcher: this.deps.switcher,
      health: this.deps.health,
      system: this.deps.system,
      data: this.deps.data,
      clock: this.deps.clock,
      options: this.deps.options,
      signal: this.abort.signal,
      boot: this.deps.boot,
      transition: (event, patch) => this.current.setState(id, event, patch),
      report: (health) => this.current.report(id, health),
      confirmRequested: (confirmed) => this.confirmations.has(confirmed),
      waitForConfirm: (ms, signal) => this.waitForConfirm(ms, signal),
      unitsBefore: (r) =>
        this.earlyUnits.before(r, { switcher: this.deps.switcher, signal: this.abort.signal }),
    };
    for (;;) {
      const r = this.current.get();
      if (r === undefined || r.id !== id || this.abort.signal.aborted) return;
      if (isFinal(r.state) && this.takenUp()?.id !== id) return;
      if ((await runStep(r, stepDeps)) === "park") {
        this.deps.log.info({ deploymentId: id, state: this.current.get()?.state }, "waiting for a reboot");
        return;
      }
    }
  }

  private waitForConfirm(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.wake = done;
    });
  }
}
