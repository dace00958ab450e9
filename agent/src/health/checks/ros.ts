import type { GraphState, RosGraph, TopicSample } from "../ros/graph.js";
import type { RosSpec, TopicSpec } from "../spec.js";
import { describeError } from "./types.js";
import type { Verdict } from "./units.js";

export function secs(ms: number): string {
  return (ms / 1000).toFixed(1);
}

export interface MasterVerdict extends Verdict {
  readonly state: GraphState | undefined;
}

/** The master answers, and (against the window's baseline run id) did not restart. */
export async function checkMaster(
  ros: RosSpec,
  graph: RosGraph,
  baselineRunId: string | undefined,
  signal: AbortSignal,
): Promise<MasterVerdict> {
  let state: GraphState;
  try {
    state = await graph.query(signal);
  } catch (e) {
    return {
      healthy: false,
      reason: `ROS master ${ros.masterUri} unreachable: ${describeError(e)}`,
      state: undefined,
    };
  }
  if (baselineRunId !== undefined && state.runId !== baselineRunId)
    return {
      healthy: false,
      reason: `ROS master restarted during the window (run_id ${baselineRunId} → ${state.runId})`,
      state,
    };
  return { healthy: true, reason: `ROS master up (run_id ${state.runId}, ${state.nodes.size} nodes)`, state };
}

export function judgeNode(node: string, state: GraphState | undefined): Verdict {
  if (state === undefined)
    return { healthy: false, reason: `node ${node}: unknown, the ROS master is unreachable` };
  return state.nodes.has(node)
    ? { healthy: true, reason: `node ${node} registered` }
    : { healthy: false, reason: `node ${node} not registered with the ROS master` };
}

/**
 * Time since the last message is the primary signal (a stopped publisher
 * keeps its connection); then the rate over the window. Not having seen
 * enough yet is unhealthy too: health must be shown, not assumed.
 */
export function judgeTopic(t: TopicSpec, s: TopicSample, nowMs: number, rateWindowMs: number): Verdict {
  const name = `topic ${t.name}`;
  const maxSilenceMs = t.maxSilenceSeconds * 1000;
  const hint = topicHint(s);
  if (s.watchingSinceMs === undefined) return { healthy: false, reason: `${name} is not being watched` };
  const watchedMs = nowMs - s.watchingSinceMs;
  if (s.lastMessageAtMs === undefined) {
    return watchedMs > maxSilenceMs
      ? {
          healthy: false,
          reason: `${name} silent for ${secs(watchedMs)} s (max ${t.maxSilenceSeconds} s), no message yet${hint}`,
        }
      : { healthy: false, reason: `${name}: no message yet (watching for ${secs(watchedMs)} s)${hint}` };
  }
  const ageMs = nowMs - s.lastMessageAtMs;
  if (ageMs > maxSilenceMs)
    return {
      healthy: false,
      reason: `${name} silent for ${secs(ageMs)} s (max ${t.maxSilenceSeconds} s)${hint}`,
    };
  let rate = "";
  if (t.minRateHz !== undefined) {
    const spanMs = Math.min(rateWindowMs, watchedMs);
    if (spanMs < rateWindowMs / 2)
      return {
        healthy: false,
        reason: `${name}: rate not measured yet (watched ${secs(watchedMs)} s of ${secs(rateWindowMs)} s)`,
      };
    const hz = s.messagesInWindow / (spanMs / 1000);
    if (hz < t.minRateHz)
      return {
        healthy: false,
        reason: `${name} at ${hz.toFixed(1)} Hz (min ${t.minRateHz} Hz over ${secs(spanMs)} s)${hint}`,
      };
    rate = `${hz.toFixed(1)} Hz, `;
  }
  const type = s.type === undefined ? "" : ` (${s.type})`;
  return { healthy: true, reason: `${name} ${rate}last message ${secs(ageMs)} s ago${type}` };
}

function topicHint(s: TopicSample): string {
  const parts: string[] = [];
  if (s.type !== undefined)
    parts.push(
      s.connectedPublishers === 0
        ? "no publisher connected"
        : `${s.connectedPublishers} publisher(s) connected`,
    );
  if (s.problem !== undefined) parts.push(s.problem);
  return parts.length === 0 ? "" : `; ${parts.join("; ")}`;
}
