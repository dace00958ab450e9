import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { RollbackReason } from "../deployment/record.js";
import { DEPLOYMENT_STATES } from "../deployment/states.js";

/** Every metric of ours starts with this; process and Node metrics keep their standard names. */
export const PREFIX = "ros_rollback_";

/** How a deployment ended, for `deployments_total{outcome}`. */
export type DeploymentOutcome = "confirmed" | "rolled_back" | "failed" | "reboot_required";
export const DEPLOYMENT_OUTCOMES: readonly DeploymentOutcome[] = [
  "confirmed",
  "rolled_back",
  "failed",
  "reboot_required",
];
export const ROLLBACK_REASONS: readonly RollbackReason[] = [
  "unhealthy",
  "not_confirmed",
  "activation_failed",
  "manual",
  "boot",
];
export const REFUSAL_REASONS = ["invalid", "missing_reference", "untrusted", "hash_mismatch"] as const;

const SWITCH_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const HEALTH_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const CONFIRM_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
const GRPC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * prom-client samples event-loop lag with a 10 ms timer by default: 100 wake-ups a second,
 * ~0.8 % of a core on an idle agent (measured, bench/agent.ts). Once a second is enough to see
 * a loop blocked for long (the watchdog warns about those too).
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

const GAUGES_NAMED_TOTAL = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export interface MetricsOptions {
  readonly version: string;
  /** process_* and nodejs_* under their standard (unprefixed) names. Default true. */
  readonly defaultMetrics?: boolean;
}

/**
 * The agent's metrics in a registry of their own (never prom-client's global
 * one). Only the consumers in this directory set them; business code never
 * sees a metric.
 */
export function createAgentMetrics(o: MetricsOptions) {
  const registry = new Registry();
  /** Readings taken when Prometheus scrapes (set by scrape.ts); each is shared by the gauges of a pair. */
  const scrape: { topics?: () => void; units?: () => Promise<void>; holds?: () => Promise<void> } = {};
  const r = [registry];
  if (o.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    // Gauges named *_total break the convention (promtool check metrics refuses them); the
    // same numbers remain by type in nodejs_active_handles, _requests and _resources.
    for (const name of GAUGES_NAMED_TOTAL) registry.removeSingleMetric(name);
  }

  const m = {
    registry,
    scrape,
    info: new Gauge({
      name: `${PREFIX}agent_info`,
      help: "Always 1; the agent's version as a label.",
      labelNames: ["version"] as const,
      registers: r,
    }),

    generation: new Gauge({
      name: `${PREFIX}generation`,
      help: "Current generation of the system profile (0: the profile has none).",
      registers: r,
    }),
    generationConfirmed: new Gauge({
      name: `${PREFIX}generation_confirmed`,
      help: "1 when the current generation is settled (confirmed, kept, or restored by a finished rollback); 0 while a deployment is under way or after one that failed.",
      registers: r,
    }),
    deploymentState: new Gauge({
      name: `${PREFIX}deployment_state`,
      help: "State of the latest deployment, one-hot (all 0 before the first deployment).",
      labelNames: ["state"] as const,
      registers: r,
    }),
    deploymentStateSince: new Gauge({
      name: `${PREFIX}deployment_state_timestamp_seconds`,
      help: "Unix time at which the latest deployment entered its current state.",
      registers: r,
    }),
    deployments: new Counter({
      name: `${PREFIX}deployments_total`,
      help: "Deployments (activations, not rollbacks or dry runs) by how they ended.",
      labelNames: ["outcome"] as const,
      registers: r,
    }),
    rollbacks: new Counter({
      name: `${PREFIX}rollbacks_total`,
      help: "Rollbacks started, by reason (manual: a Rollback request).",
      labelNames: ["reason"] as const,
      registers: r,
    }),
    activationSeconds: new Histogram({
      name: `${PREFIX}activation_duration_seconds`,
      help: "How long switch-to-configuration ran to activate a system (kind: activate, or rollback for a Rollback request).",
      labelNames: ["kind"] as const,
      buckets: SWITCH_BUCKETS,
      registers: r,
    }),
    rollbackSeconds: new Histogram({
      name: `${PREFIX}rollback_duration_seconds`,
      help: "How long a rollback took, from its start to the restored system judged.",
      buckets: SWITCH_BUCKETS,
      registers: r,
    }),
    healthEvaluationSeconds: new Histogram({
      name: `${PREFIX}health_evaluation_duration_seconds`,
      help: "How long judging a new system's health took (settle and stable window).",
      buckets: HEALTH_BUCKETS,
      registers: r,
    }),
    confirmationSeconds: new Histogram({
      name: `${PREFIX}confirmation_duration_seconds`,
      help: "How long a healthy deployment waited for Confirm (until confirmed, deadline or unhealthy).",
      buckets: CONFIRM_BUCKETS,
      registers: r,
    }),

    healthy: new Gauge({
      name: `${PREFIX}health_healthy`,
      help: "1 when every check passed in the latest health round.",
      registers: r,
    }),
    healthRoundTime: new Gauge({
      name: `${PREFIX}health_last_round_timestamp_seconds`,
      help: "Unix time of the latest health round (during a deployment, a CheckHealth, or awaiting Confirm).",
      registers: r,
    }),
    checkUp: new Gauge({
      name: `${PREFIX}health_check_up`,
      help: "1 when the check passed in the latest health round that ran it.",
      labelNames: ["check", "kind"] as const,
      registers: r,
    }),
    checkSeconds: new Gauge({
      name: `${PREFIX}health_check_duration_seconds`,
      help: "How long the check took in the latest health round that ran it.",
      labelNames: ["check", "kind"] as const,
      registers: r,
    }),
    topicRate: new Gauge({
      name: `${PREFIX}ros_topic_rate_hertz`,
      help: "Messages per second seen on the topic over its rate window (read at scrape time).",
      labelNames: ["topic"] as const,
      registers: r,
      collect: () => scrape.topics?.(),
    }),
    topicAge: new Gauge({
      name: `${PREFIX}ros_topic_last_message_age_seconds`,
      help: "Seconds since the last message on the topic (since watching began, if none came yet; read at scrape time).",
      labelNames: ["topic"] as const,
      registers: r,
      collect: () => scrape.topics?.(),
    }),
    unitActive: new Gauge({
      name: `${PREFIX}systemd_unit_active`,
      help: "1 when the watched unit's ActiveState is active (read at scrape time).",
      labelNames: ["unit"] as const,
      registers: r,
      collect: () => scrape.units?.(),
    }),
    unitRestarts: new Gauge({
      name: `${PREFIX}systemd_unit_restarts`,
      help: "systemd's NRestarts of the watched unit: automatic restarts since it was last started by hand.",
      labelNames: ["unit"] as const,
      registers: r,
      collect: () => scrape.units?.(),
    }),

    holdsActive: new Gauge({
      name: `${PREFIX}holds_active`,
      help: "Holds that keep controllers from switching the robot now, by source (command, file, condition; read at scrape time).",
      labelNames: ["source"] as const,
      registers: r,
      collect: () => scrape.holds?.(),
    }),
    deploysRefusedHeld: new Counter({
      name: `${PREFIX}deploys_refused_held_total`,
      help: "Activate and Rollback requests refused because the robot was held.",
      registers: r,
    }),
    holdsOverridden: new Counter({
      name: `${PREFIX}holds_overridden_total`,
      help: "Holds that Activate and Rollback requests went ahead despite (override_holds), by source (command, file, condition).",
      labelNames: ["source"] as const,
      registers: r,
    }),
    switchUnitRestarts: new Counter({
      name: `${PREFIX}unit_restarts_total`,
      help: "Units restarted by the agent's switches (deployments and rollbacks), by unit.",
      labelNames: ["unit"] as const,
      registers: r,
    }),
    pushWireBytes: new Counter({
      name: `${PREFIX}push_wire_bytes_total`,
      help: "Bytes of NAR data received in pushes, as sent (compressed when the push is).",
      registers: r,
    }),
    pushNarBytes: new Counter({
      name: `${PREFIX}push_nar_bytes_total`,
      help: "NAR bytes received in pushes, after decompression.",
      registers: r,
    }),
    pushPaths: new Counter({
      name: `${PREFIX}push_paths_total`,
      help: "Store paths received in pushes: imported, or skipped because they were valid already.",
      labelNames: ["result"] as const,
      registers: r,
    }),
    pushes: new Counter({
      name: `${PREFIX}pushes_total`,
      help: "Pushes that ended, by transport (raw: the raw push channel; grpc: PushPaths) and result (ok, error).",
      labelNames: ["transport", "result"] as const,
      registers: r,
    }),
    pushRefused: new Counter({
      name: `${PREFIX}push_paths_refused_total`,
      help: "Store paths refused in pushes, by reason.",
      labelNames: ["reason"] as const,
      registers: r,
    }),

    // grpc-ecosystem/go-grpc-prometheus names, so its dashboards and queries work unchanged.
    grpcStarted: new Counter({
      name: "grpc_server_started_total",
      help: "Total number of RPCs started on the server.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
      registers: r,
    }),
    grpcHandled: new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type", "grpc_code"] as const,
      registers: r,
    }),
    grpcReceived: new Counter({
      name: "grpc_server_msg_received_total",
      help: "Total number of RPC stream messages received on the server.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
      registers: r,
    }),
    grpcSent: new Counter({
      name: "grpc_server_msg_sent_total",
      help: "Total number of gRPC stream messages sent by the server.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
      registers: r,
    }),
    grpcSeconds: new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
      buckets: GRPC_BUCKETS,
      registers: r,
    }),
  };

  m.info.set({ version: o.version }, 1);
  // Every label value exists from the start, so increase() and alerts see the first event.
  for (const state of DEPLOYMENT_STATES) m.deploymentState.set({ state }, 0);
  for (const outcome of DEPLOYMENT_OUTCOMES) m.deployments.inc({ outcome }, 0);
  for (const reason of ROLLBACK_REASONS) m.rollbacks.inc({ reason }, 0);
  for (const reason of REFUSAL_REASONS) m.pushRefused.inc({ reason }, 0);
  for (const result of ["imported", "skipped"]) m.pushPaths.inc({ result }, 0);
  for (const transport of ["raw", "grpc"]) {
    for (const result of ["ok", "error"]) m.pushes.inc({ transport, result }, 0);
  }
  for (const kind of ["activate", "rollback"]) m.activationSeconds.zero({ kind });
  for (const source of ["command", "file", "condition"]) {
    m.holdsActive.set({ source }, 0);
    m.holdsOverridden.inc({ source }, 0);
  }
  return m;
}

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
