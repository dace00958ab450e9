import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { AgentError } from "../errors.js";
import type { SystemProfile } from "../generations/profile.js";
import type { SwitchAction } from "../system/switcher.js";
import type { Clock, SystemInspector } from "./ports.js";
import type { DeploymentKind, DeploymentRecord } from "./record.js";
import type { RecordStore } from "./record-file.js";
import { type DeploymentEventName, isFinal, nextState } from "./states.js";
import { runStep, type StepDeps } from "./steps.js";

export type DeploymentListener = (record: DeploymentRecord) => void;

export interface DeployerOptions {
  readonly activationTimeoutMs: number;
  readonly autoRollback: boolean;
  readonly deleteFailedGenerations: boolean;
}

export interface DeployerDeps {
  readonly profile: SystemProfile;
  readonly switcher: StepDeps["switcher"];
  readonly records: RecordStore;
  readonly system: SystemInspector;
  readonly clock: Clock;
  readonly log: Logger;
  readonly options: DeployerOptions;
}

/**
 * Owns the one deployment that may run at a time. Every change of state goes
 * through setState, which checks the transition table, persists (fsync),
 * logs and emits — in that order, before the next side effect.
 */
export class Deployer {
  private record: DeploymentRecord | undefined;
  private running: Promise<void> | undefined;
  private readonly listeners = new Set<DeploymentListener>();
  private readonly abort = new AbortController();

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

  async activate(storePath: string, action: SwitchAction): Promise<DeploymentRecord> {
    await this.refuseIfBusy();
    await this.deps.system.assertSystem(storePath);
    const current = await this.deps.profile.current();
    const runningSystem = await this.deps.system.runningSystem();
    // TEST and DRY_ACTIVATE leave the profile alone: what runs is what to return to.
    const profileAction = action === "switch" || action === "boot";
    return this.begin("activate", action, storePath, {
      generation: current?.number ?? 0,
      storePath: profileAction
        ? (current?.storePath ?? runningSystem)
        : (runningSystem ?? current?.storePath),
      runningSystem,
    });
  }

  async rollback(generation: number | undefined): Promise<DeploymentRecord> {
    await this.refuseIfBusy();
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
    return this.begin(
      "rollback",
      "switch",
      gen.storePath,
      {
        generation: current?.number ?? 0,
        storePath: current?.storePath,
        runningSystem: await this.deps.system.runningSystem(),
      },
      target,
    );
  }

  /** Stops driving (the persisted record lets the next agent resume). */
  async close(): Promise<void> {
    this.abort.abort(new AgentError("ABORTED", "agent shutting down"));
    await this.running?.catch(() => undefined);
  }

  private async refuseIfBusy(): Promise<void> {
    const active = this.active();
    if (active !== undefined) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `deployment ${active.id} (${active.kind} of ${active.storePath}) is still running, state ${active.state}`,
      );
    }
    if (await this.deps.system.switchLockHeld()) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        "another switch-to-configuration holds /run/nixos/switch-to-configuration.lock",
      );
    }
  }

  private async begin(
    kind: DeploymentKind,
    action: SwitchAction,
    storePath: string,
    previous: DeploymentRecord["previous"],
    generation?: number,
  ): Promise<DeploymentRecord> {
    const now = this.deps.clock.now();
    const id = newDeploymentId(now);
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

  private drive(): void {
    const run = async () => {
      const stepDeps: StepDeps = {
        profile: this.deps.profile,
        switcher: this.deps.switcher,
        options: this.deps.options,
        signal: this.abort.signal,
        transition: (event, patch) => this.setState(event, patch),
      };
      while (this.record !== undefined && !isFinal(this.record.state) && !this.abort.signal.aborted) {
        await runStep(this.record, stepDeps);
      }
    };
    this.running = run().catch((e: unknown) => {
      if (this.abort.signal.aborted) return;
      this.deps.log.error({ err: e, deploymentId: this.record?.id }, "deployment driver crashed");
    });
  }

  private async setState(
    event: DeploymentEventName,
    patch: Partial<Pick<DeploymentRecord, "generation" | "switchUnit" | "rollbackUnit" | "exitCode">> & {
      message: string;
    },
  ): Promise<void> {
    const cur = this.record;
    if (cur === undefined) throw new Error("setState without a deployment");
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
