import type { Logger } from "pino";
import type { DataPort } from "../data/types.js";
import type { Clock } from "./ports.js";
import type { DeploymentRecord, HealthSummary } from "./record.js";
import type { RecordStore } from "./record-file.js";
import { settleTransition } from "./settle.js";
import { type DeploymentEventName, isFinal, nextState } from "./states.js";
import type { Patch } from "./step-contract.js";

export type DeploymentListener = (record: DeploymentRecord) => void;

export interface CurrentDeps {
  readonly records: RecordStore;
  readonly data: DataPort;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * The agent's latest deployment record and the only code that changes it: `create` (a new
 * pending record) and `setState` (every transition after that) each persist (fsync), log and
 * emit — in that order, before the caller's next side effect. `report` publishes a health round
 * without persisting it (the next transition persists the latest).
 */
export class CurrentDeployment {
  private record: DeploymentRecord | undefined;
  private readonly listeners = new Set<DeploymentListener>();

  constructor(private readonly deps: CurrentDeps) {}

  /** Reads the persisted record (an earlier agent's) into memory. */
  async load(): Promise<DeploymentRecord | undefined> {
    this.record = await this.deps.records.load();
    return this.record;
  }

  /** The most recent deployment, finished or not. */
  get(): DeploymentRecord | undefined {
    return this.record;
  }

  /** The deployment in progress, if any. */
  active(): DeploymentRecord | undefined {
    return this.record !== undefined && !isFinal(this.record.state) ? this.record : undefined;
  }

  subscribe(listener: DeploymentListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Makes a new pending record current; persisted before anything on the robot changes. */
  async create(record: DeploymentRecord): Promise<void> {
    await this.deps.records.save(record);
    this.record = record;
    const { id, state, kind, action, storePath } = record;
    this.deps.log.info({ deploymentId: id, state, kind, action, storePath }, record.message);
    this.emit(record);
  }

  /** THE transition: checked against the table, persisted, settled, logged, emitted. */
  async setState(id: string, event: DeploymentEventName, patch: Patch): Promise<void> {
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
    await settleTransition(this.deps, next);
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
  report(id: string, health: HealthSummary): void {
    const cur = this.record;
    if (cur === undefined || cur.id !== id) return;
    this.record = { ...cur, health, updatedAt: this.deps.clock.now() };
    this.emit(this.record);
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
