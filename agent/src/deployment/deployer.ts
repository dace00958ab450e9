import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { DataPort, DataSnapshot } from "../data/types.js";
import { AgentError } from "../errors.js";
import type { SystemProfile } from "../generations/profile.js";
import { type HealthSpec, mergeHealthSpec } from "../health/index.js";
import type { HoldSplit } from "../holds/override.js";
import { clip, MAX_NAME } from "../holds/types.js";
import type { SwitchAction } from "../system/switcher.js";
import { type Admission, AdmissionGate, type Claim } from "./admission.js";
import type { Clock, HealthPort, SystemInspector } from "./ports.js";
import type { DeploymentKind, DeploymentRecord, DeploymentSettings, HealthSummary } from "./record.js";
import type { RecordStore } from "./record-file.js";
import { type DeploymentEventName, isFinal, nextState } from "./states.js";
import type { Patch, StepDeps } from "./step-contract.js";
import { runStep } from "./steps.js";

/** Reading every hold source (a ROS master query among them) is bounded. */
const HOLD_CHECK_MS = 10_000;

export type DeploymentListener = (record: DeploymentRecord) => void;

export interface DeployerOptions {
  readonly activationTimeoutMs: number;
  readonly deleteFailedGenerations: boolean;
  /** Defaults for every deployment; a deploy may override them (see DeployRequest). */
  readonly defaults: Omit<DeploymentSettings, "selfConfirm">;
}

/** What a deploy may ask for beyond the action (unset = the agent's defaults). */
export interface DeployRequest {
  readonly confirmTimeoutSeconds?: number | undefined;
  readonly magicRollback?: boolean | undefined;
  readonly autoRollback?: boolean | undefined;
  readonly selfConfirm?: boolean | undefined;
  /** Per-deployment health changes (parsed JSON); checked against what the config allows. */
  readonly health?: unknown;
  /** Opaque; stored with the deployment and echoed in GetStatus. */
  readonly label?: string | undefined;
  /** Holds to go ahead despite, by exact name (checked already: see overrideHoldsFromPb). */
  readonly overrideHolds?: readonly string[] | undefined;
  /** Who asked (the client certificate's subject), for the log of an override. */
  readonly client?: string | undefined;
}

/** What a controller's Rollback may carry besides the generation. */
export type RollbackOptions = Pick<DeployRequest, "overrideHolds" | "client">;

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
  /**
   * Holds (mission running, operator's hold): consulted for a controller's
   * Activate and Rollback only, never for the agent's own rollbacks.
   */
  readonly holds?:
    | { assertFree(signal: AbortSignal, override: readonly string[]): Promise<HoldSplit> }
    | undefined;
}

/**
 * Owns the one deployment that may run at a time. Every change of state goes
 * through setState, which checks the transition table, persists (fsync),
 * logs and emits — in that order, before the next side effect.
 */
export class Deployer {
  private record: DeploymentRecord | undefined;
  private running: Promise<void> | undefined;
  /** Id of the record a driver loop is running for: at most one loop per record. */
  private driving: string | undefined;
  private readonly gate = new AdmissionGate(() => this.active());
  private readonly listeners = new Set<DeploymentListener>();
  private readonly abort = new AbortController();
  /** Ids confirmed by Confirm; the awaiting step turns this into a persisted transition. */
  private readonly confirmations = new Set<string>();
  private wake: (() => void) | undefined;

  constructor(private readonly deps: DeployerDeps) {}

  /** Loads the persisted record and resumes a deployment an earlier agent left unfinished. */
  async start(): Promise<void> {
    this.record = await this.deps.records.load();
    if (this.record !== undefined && !isFinal(this.record.state)) {
      this.deps.log.warn(
        { deploymentId: this.record.id, state: this.record.state },
        "resuming a deployment left unfinished by an earlier agent",
      );
      this.drive();
    }
  }

  /** The deployment in progress, if any. */
  active(): DeploymentRecord | undefined {
    return this.record !== undefined && !isFinal(this.record.state) ? this.record : undefined;
  }

  /** The most recent deployment, finished or not. */
  latest(): DeploymentRecord | undefined {
    return this.record;
  }

  subscribe(listener: DeploymentListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async activate(
    storePath: string,
    action: SwitchAction,
    request: DeployRequest = {},
  ): Promise<DeploymentRecord> {
    const settings = this.settingsFor(request);
    return this.admitted("activate", storePath, request, async (admission, overriddenHolds) => {
      await this.deps.system.assertSystem(storePath);
      const current = await this.deps.profile.current();
      const runningSystem = await this.deps.system.runningSystem();
      // TEST and DRY_ACTIVATE leave the profile alone: what runs is what to return to.
      const profileAction = action === "switch" || action === "boot";
      // Refused here, before the record exists, when the data cannot be captured.
      const snapshots =
        action === "dry-activate"
          ? []
          : await this.deps.data.plan(admission.id, await this.deps.data.entriesFor(storePath));
      return this.begin(
        admission,
        "activate",
        action,
        storePath,
        settings,
        {
          generation: current?.number ?? 0,
          storePath: profileAction
            ? (current?.storePath ?? runningSystem)
            : (runningSystem ?? current?.storePath),
          runningSystem,
        },
        undefined,
        { snapshots, overriddenHolds },
      );
    });
  }

  rollback(generation: number | undefined, options: RollbackOptions = {}): Promise<DeploymentRecord> {
    const target = generation === undefined ? "the recorded previous generation" : `generation ${generation}`;
    return this.admitted("rollback", target, options, (admission, overridden) =>
      this.beginRollback(admission, generation, overridden),
    );
  }

  private async beginRollback(
    admission: Admission,
    generation: number | undefined,
    overriddenHolds: readonly string[] | undefined,
  ): Promise<DeploymentRecord> {
    const gens = await this.deps.profile.list();
    const current = gens.find((g) => g.current);
    const target =
      generation ?? (current ? (await this.deps.records.loadLineage())[current.number] : undefined);
    if (target === undefined) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        "no previous generation is recorded on this robot; name one (rollback --to N)",
      );
    }
    const gen = gens.find((g) => g.number === target);
    if (gen === undefined) {
      throw new AgentError(
        "NOT_FOUND",
        `generation ${target} does not exist (have: ${gens.map((g) => g.number).join(", ") || "none"})`,
      );
    }
    if (current?.number === target) {
      throw new AgentError("FAILED_PRECONDITION", `generation ${target} is already current`);
    }
    await this.deps.system.assertSystem(gen.storePath);
    // The data of the deployment being undone goes back; what is there now is captured first.
    const undo = current ? await this.deps.data.confirmedFor(current.number, target) : undefined;
    const data = undo
      ? {
          snapshots: await this.deps.data.plan(admission.id, undo.snapshots),
          restores: undo.snapshots.map((s) => ({ ...s, state: "captured" as const })),
          restoreFrom: undo.id,
          overriddenHolds,
        }
      : { overriddenHolds };
    return this.begin(
      admission,
      "rollback",
      "switch",
      gen.storePath,
      this.settingsFor({}),
      {
        generation: current?.number ?? 0,
        storePath: current?.storePath,
        runningSystem: await this.deps.system.runningSystem(),
      },
      target,
      data,
    );
  }

  /** Stops driving (the persisted record lets the next agent resume). */
  async close(): Promise<void> {
    this.abort.abort(new AgentError("ABORTED", "agent shutting down"));
    await this.running?.catch(() => undefined);
  }

  /**
   * Runs `start` holding the admission gate, which is entered synchronously
   * (before any await) and held until `start` has persisted its record or failed.
   */
  private async admitted(
    kind: DeploymentKind,
    target: string,
    request: RollbackOptions,
    start: (
      admission: Admission,
      overriddenHolds: readonly string[] | undefined,
    ) => Promise<DeploymentRecord>,
  ): Promise<DeploymentRecord> {
    const claim: Claim = { id: newDeploymentId(this.deps.clock.now()), kind, target };
    const admission = this.gate.enter(claim);
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

  /** An operator went ahead despite holds: said at warn, whoever asked, whatever matched. */
  private logOverride(
    claim: Claim,
    client: string | undefined,
    override: readonly string[],
    split: HoldSplit | undefined,
  ): void {
    const names = (xs: readonly string[]) => xs.slice(0, 32).map((n) => clip(n, MAX_NAME));
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

  /**
   * Keeps a deployment that waits for confirmation. Resolves once the
   * confirmation is persisted (or at once if it was kept already).
   */
  async confirm(id: string): Promise<DeploymentRecord> {
    const r = this.record;
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

  /** Compiles a deploy's settings: the agent's defaults with what the request may change. */
  private settingsFor(request: DeployRequest): DeploymentSettings {
    const d = this.deps.options.defaults;
    let health: HealthSpec = d.health;
    if (request.health !== undefined) {
      try {
        health = mergeHealthSpec(d.health, request.health);
      } catch (e) {
        if (e instanceof AgentError) throw e;
        const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
        const detail = issues
          ? issues.map((i) => `${i.path.map(String).join(".") || "(top level)"}: ${i.message}`).join("; ")
          : (e as Error).message;
        throw new AgentError("INVALID_ARGUMENT", `invalid per-deployment health: ${detail}`, { cause: e });
      }
    }
    if (request.confirmTimeoutSeconds !== undefined && request.confirmTimeoutSeconds <= 0) {
      throw new AgentError("INVALID_ARGUMENT", "confirm timeout must be at least 1 second");
    }
    return {
      confirmTimeoutSeconds: request.confirmTimeoutSeconds ?? d.confirmTimeoutSeconds,
      magicRollback: request.magicRollback ?? d.magicRollback,
      autoRollback: request.autoRollback ?? d.autoRollback,
      selfConfirm: request.selfConfirm ?? false,
      health,
      label: request.label,
    };
  }

  private async begin(
    admission: Admission,
    kind: DeploymentKind,
    action: SwitchAction,
    storePath: string,
    settings: DeploymentSettings,
    previous: DeploymentRecord["previous"],
    generation?: number,
    data: {
      snapshots?: DataSnapshot[];
      restores?: DataSnapshot[];
      restoreFrom?: string;
      overriddenHolds?: readonly string[] | undefined;
    } = {},
  ): Promise<DeploymentRecord> {
    const now = this.deps.clock.now();
    const id = admission.id;
    const record: DeploymentRecord = {
      version: 1,
      id,
      kind,
      action,
      storePath,
      previous,
      state: "pending",
      generation,
      switchUnit: undefined,
      rollbackUnit: undefined,
      exitCode: undefined,
      settings,
      confirmDeadline: undefined,
      rollbackReason: kind === "rollback" ? "manual" : undefined,
      rollbackCause: undefined,
      bootId: undefined,
      booted: false,
      health: undefined,
      snapshots: data.snapshots ?? [],
      restores: data.restores ?? [],
      restoreFrom: data.restoreFrom,
      overriddenHolds: data.overriddenHolds,
      message: kind === "activate" ? `${action} to ${storePath}` : `rollback to generation ${generation}`,
      startedAt: now,
      updatedAt: now,
      history: [],
    };
    // Persisted before anything on the robot changes.
    await this.deps.records.save(record);
    this.record = record;
    this.deps.log.info({ deploymentId: id, state: record.state, kind, action, storePath }, record.message);
    this.emit(record);
    this.drive();
    return record;
  }

  /**
   * Drives the current record until it is final (or parks). At most one loop
   * per record; a new record's loop starts only after the previous loop returned.
   */
  private drive(): void {
    const id = this.record?.id;
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
      transition: (event, patch) => this.setState(id, event, patch),
      report: (health) => this.report(id, health),
      confirmRequested: (confirmed) => this.confirmations.has(confirmed),
      waitForConfirm: (ms, signal) => this.waitForConfirm(ms, signal),
    };
    for (;;) {
      const r = this.record;
      if (r === undefined || r.id !== id || isFinal(r.state) || this.abort.signal.aborted) return;
      if ((await runStep(r, stepDeps)) === "park") {
        this.deps.log.info({ deploymentId: id, state: this.record?.state }, "waiting for a reboot");
        return;
      }
    }
  }

  private async setState(id: string, event: DeploymentEventName, patch: Patch): Promise<void> {
    const cur = this.record;
    if (cur === undefined || cur.id !== id) throw new Error(`setState for ${id}, not the current deployment`);
    const to = nextState(cur.state, event);
    if (to === undefined) throw new Error(`illegal transition: ${cur.state} --${event}-->`);
    const at = this.deps.clock.now();
    const next: DeploymentRecord = {
      ...cur,
      ...patch,
      state: to,
      updatedAt: at,
      history: [...cur.history, { state: to, at, message: patch.message }].slice(-50),
    };
    await this.deps.records.save(next);
    if (next.kind === "activate" && (to === "succeeded" || to === "reboot_required")) {
      await this.recordLineage(next);
    }
    if (isFinal(to) && (next.snapshots?.length ?? 0) > 0) await this.settleData(next);
    this.record = next;
    const level = to === "rollback_failed" || to === "failed" ? "error" : "info";
    this.deps.log[level](
      {
        deploymentId: next.id,
        state: to,
        from: cur.state,
        event,
        generation: next.generation,
        exitCode: next.exitCode,
      },
      patch.message,
    );
    this.emit(next);
  }

  /** A health round: published (not persisted; the next transition persists the latest). */
  private report(id: string, health: HealthSummary): void {
    const cur = this.record;
    if (cur === undefined || cur.id !== id) return;
    this.record = { ...cur, health, updatedAt: this.deps.clock.now() };
    this.emit(this.record);
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

  /** Keeps a confirmed deployment's snapshots (per retention), drops restored ones. */
  private async settleData(r: DeploymentRecord): Promise<void> {
    const outcome =
      r.state === "succeeded" ? "succeeded" : r.state === "rolled_back" ? "restored" : undefined;
    if (outcome === undefined) return;
    try {
      const dropped = await this.deps.data.settle(r.id, {
        outcome,
        made: r.generation,
        previous: r.previous.generation,
        snapshots: r.snapshots,
      });
      if (dropped.length > 0) this.deps.log.info({ deploymentId: r.id, dropped }, "data snapshots deleted");
    } catch (e) {
      this.deps.log.error({ err: e, deploymentId: r.id }, "could not settle the data snapshots");
    }
  }

  /** Remembers which generation the new one replaced, for `rollback` without a number. */
  private async recordLineage(r: DeploymentRecord): Promise<void> {
    if (r.generation === undefined || r.previous.generation <= 0 || r.generation === r.previous.generation)
      return;
    const lineage = await this.deps.records.loadLineage();
    await this.deps.records.saveLineage({ ...lineage, [r.generation]: r.previous.generation });
  }

  private emit(record: DeploymentRecord): void {
    for (const l of this.listeners) {
      try {
        l(record);
      } catch (e) {
        this.deps.log.error({ err: e }, "deployment listener threw");
      }
    }
  }
}

export function newDeploymentId(now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  return `d-${t}-${randomBytes(3).toString("hex")}`;
}
