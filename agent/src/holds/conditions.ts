import { z } from "zod";
import type { GraphState } from "../health/index.js";
import { clip, type Hold, MAX_REASON } from "./types.js";

/**
 * Conditions under which the robot is held, from the health check kinds:
 * a unit (held while it is active) and a ROS topic (held while the latest
 * message's leading string, std_msgs/String's `data`, is not one of `releasedWhen`).
 */
export const holdConditionSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("unit"),
      /** Held while this unit is active, activating or reloading (e.g. mission.service). */
      unit: z
        .string()
        .regex(/^[A-Za-z0-9:_.@\\-]+\.(service|target|timer|socket|path|scope)$/, "expected a unit name"),
      reason: z.string().min(1).max(MAX_REASON).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("topic"),
      topic: z.string().regex(/^\/[A-Za-z0-9_/]*$/, "expected a ROS topic name"),
      /** The robot is free only while the latest message is one of these (e.g. ["idle"]). */
      releasedWhen: z.array(z.string().max(256)).min(1),
      reason: z.string().min(1).max(MAX_REASON).optional(),
    })
    .strict(),
]);

export type HoldCondition = z.infer<typeof holdConditionSchema>;

export const holdsConfigSchema = z
  .object({
    /** Robot software drops files here to hold the robot (default /run/ros-rollback/holds). */
    dir: z.string().startsWith("/").optional(),
    conditions: z.array(holdConditionSchema).max(32).optional(),
  })
  .strict();

export interface ConditionDeps {
  /** systemctl is-active of one unit. */
  readonly unitState: (unit: string, signal: AbortSignal) => Promise<string>;
  /** The ROS monitor; undefined when the agent has no ROS config (topic conditions then hold). */
  readonly ros:
    | {
        query(signal: AbortSignal): Promise<GraphState>;
        sync(topics: readonly string[], state: GraphState | undefined, signal: AbortSignal): Promise<void>;
        lastString(topic: string): string | undefined;
      }
    | undefined;
}

export function conditionName(c: HoldCondition): string {
  return c.kind === "unit" ? `unit:${c.unit}` : `topic:${c.topic}`;
}

/** The topics that topic conditions read. */
export function conditionTopics(conditions: readonly HoldCondition[]): string[] {
  return conditions.flatMap((c) => (c.kind === "topic" ? [c.topic] : []));
}

/** Subscribes to `topics` (once) and follows their publishers; failures show as held topics. */
export async function syncTopics(
  ros: NonNullable<ConditionDeps["ros"]>,
  topics: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  const state = await ros.query(signal).catch(() => undefined);
  await ros.sync(topics, state, signal).catch(() => undefined);
}

/** The conditions that hold the robot now. Unknown counts as held: a robot is never switched blind. */
export async function evaluateConditions(
  conditions: readonly HoldCondition[],
  deps: ConditionDeps,
  signal: AbortSignal,
): Promise<Hold[]> {
  const topics = conditionTopics(conditions);
  if (topics.length > 0 && deps.ros !== undefined) await syncTopics(deps.ros, topics, signal);
  const held: Hold[] = [];
  for (const c of conditions) {
    const why = await holdReason(c, deps, signal);
    if (why !== undefined) {
      held.push({ name: conditionName(c), source: "condition", reason: why, since: 0, expiresAt: undefined });
    }
  }
  return held;
}

async function holdReason(
  c: HoldCondition,
  deps: ConditionDeps,
  signal: AbortSignal,
): Promise<string | undefined> {
  if (c.kind === "unit") {
    let state: string;
    try {
      state = await deps.unitState(c.unit, signal);
    } catch (e) {
      return `cannot read ${c.unit} (${clip((e as Error).message, 80)})`;
    }
    if (!["active", "activating", "reloading", "deactivating"].includes(state)) return undefined;
    return c.reason ?? `${c.unit} is ${state}`;
  }
  if (deps.ros === undefined) return `no ROS config (health.ros) to read ${c.topic}`;
  const last = deps.ros.lastString(c.topic);
  if (last === undefined) return `no message with a string on ${c.topic} yet`;
  if (c.releasedWhen.includes(last)) return undefined;
  return c.reason ?? `${c.topic} says "${clip(last, 60)}"`;
}
