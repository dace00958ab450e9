import type { UnitState } from "../health/checks/units.js";
import type { TopicMonitor } from "../health/index.js";
import type { Hold } from "../holds/types.js";
import { showHolds } from "./holds.js";
import type { AgentMetrics } from "./registry.js";

/** A reading is shared by the gauges of one scrape (each gauge asks for it). */
const SHARE_MS = 1_000;

export interface TopicWatch {
  /** The topics the health config watches. */
  readonly topics: readonly string[];
  readonly rateWindowSeconds: number;
  /** The health checker's monitor: only read here, never synced (health rounds do that). */
  readonly monitor: Pick<TopicMonitor, "sample">;
  /** The monitor's own (monotonic) clock. */
  readonly clock: { now(): number };
}

/**
 * Topic rate and silence, read from the ROS monitor when Prometheus scrapes.
 * A topic the monitor was never asked to watch (no health round yet) has no
 * series; one that is watched but silent reports the time since watching began.
 */
export function watchTopics(m: AgentMetrics, w: TopicWatch): void {
  let readAt = Number.NEGATIVE_INFINITY;
  m.scrape.topics = () => {
    const now = w.clock.now();
    if (now - readAt < SHARE_MS) return;
    readAt = now;
    m.topicRate.reset();
    m.topicAge.reset();
    const windowMs = w.rateWindowSeconds * 1000;
    for (const topic of w.topics) {
      const s = w.monitor.sample(topic, now - windowMs);
      if (s.watchingSinceMs === undefined) continue;
      const spanMs = Math.min(windowMs, now - s.watchingSinceMs);
      if (spanMs > 0) m.topicRate.set({ topic }, s.messagesInWindow / (spanMs / 1000));
      m.topicAge.set({ topic }, (now - (s.lastMessageAtMs ?? s.watchingSinceMs)) / 1000);
    }
  };
}

export interface UnitWatch {
  readonly units: readonly string[];
  /** One bounded `systemctl show` for all of them (health/checks/units.ts readUnits). */
  readonly read: (units: readonly string[], signal: AbortSignal) => Promise<ReadonlyMap<string, UnitState>>;
  /** Bound for one read. Default 3 s (below Prometheus' default scrape timeout). */
  readonly timeoutMs?: number;
  readonly onError?: (e: unknown) => void;
}

/**
 * Whether each watched unit is active, and systemd's restart count, read when
 * Prometheus scrapes: the truth now, also between deployments. A failed read
 * drops the series (absent, not stale) and is reported to onError.
 */
export function watchUnits(m: AgentMetrics, w: UnitWatch): void {
  /** The read in progress, or the latest one with when it ended. */
  let current: { endedAt: number | undefined; done: Promise<void> } | undefined;
  const read = async () => {
    let states: ReadonlyMap<string, UnitState> | undefined;
    try {
      states = await w.read(w.units, AbortSignal.timeout(w.timeoutMs ?? 3_000));
    } catch (e) {
      w.onError?.(e);
    }
    m.unitActive.reset();
    m.unitRestarts.reset();
    for (const [unit, s] of states ?? []) {
      m.unitActive.set({ unit }, s.activeState === "active" ? 1 : 0);
      if (s.nRestarts !== undefined) m.unitRestarts.set({ unit }, s.nRestarts);
    }
  };
  m.scrape.units = () => {
    if (w.units.length === 0) return Promise.resolve();
    const c = current;
    if (c !== undefined && (c.endedAt === undefined || Date.now() - c.endedAt < SHARE_MS)) return c.done;
    const next: { endedAt: number | undefined; done: Promise<void> } = { endedAt: undefined, done: read() };
    next.done = next.done.finally(() => {
      next.endedAt = Date.now();
    });
    current = next;
    return next.done;
  };
}

export interface HoldWatch {
  /** Every hold now (Holds.current): files, command holds, conditions. */
  readonly read: (signal: AbortSignal) => Promise<readonly Hold[]>;
  /** Bound for one read. Default 3 s (below Prometheus' default scrape timeout). */
  readonly timeoutMs?: number;
  readonly onError?: (e: unknown) => void;
}

/**
 * Holds by source, read when Prometheus scrapes (no polling between scrapes).
 * A failed read drops the series (absent, not stale) and is reported to onError.
 */
export function watchHolds(m: AgentMetrics, w: HoldWatch): void {
  m.scrape.holds = async () => {
    let holds: readonly Hold[] | undefined;
    try {
      holds = await w.read(AbortSignal.timeout(w.timeoutMs ?? 3_000));
    } catch (e) {
      w.onError?.(e);
    }
    m.holdsActive.reset();
    if (holds !== undefined) showHolds(m, holds);
  };
}
