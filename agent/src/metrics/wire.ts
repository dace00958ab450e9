import type { Logger } from "pino";
import type { HealthSummary } from "../deployment/record.js";
import type { SystemProfile } from "../generations/profile.js";
import { readUnits } from "../health/checks/units.js";
import { monotonicClock } from "../health/clock.js";
import type { TopicMonitor } from "../health/ros/graph.js";
import type { HealthSpec } from "../health/spec.js";
import type { Hold } from "../holds/types.js";
import type { CommandRunner } from "../system/command.js";
import { type DeploymentSource, observeDeployments } from "./deployments.js";
import { unitRestartCounter } from "./holds.js";
import type { AgentMetrics } from "./registry.js";
import { watchHolds, watchTopics, watchUnits } from "./scrape.js";

/** What the agent's gauges and counters watch, wired for main.ts (the gRPC and push ones are wired with the server). */
export function watchAgent(
  metrics: AgentMetrics,
  deps: {
    readonly deployer: DeploymentSource;
    readonly holds: { current(signal: AbortSignal): Promise<readonly Hold[]> };
    readonly profile: Pick<SystemProfile, "current">;
    readonly runner: CommandRunner;
    readonly health: HealthSpec;
    /** The health checker's ROS monitor, when the config has a `ros` section. */
    readonly monitor: TopicMonitor | undefined;
    readonly onHealth: (h: HealthSummary) => void;
    readonly log: Logger;
  },
): void {
  const { deployer, holds, profile, runner, log } = deps;
  deployer.subscribe(unitRestartCounter(metrics, deployer.latest()));
  watchHolds(metrics, {
    read: (signal) => holds.current(signal),
    onError: (e) => log.debug({ err: e }, "metrics: cannot read the holds"),
  });
  observeDeployments(metrics, deployer, deps.onHealth, {
    currentGeneration: async () => (await profile.current())?.number,
    onError: (e) => log.warn({ err: e }, "metrics: cannot read the current generation"),
  });
  watchUnits(metrics, {
    units: deps.health.systemd.units.map((u) => u.name),
    read: (names, signal) => readUnits(runner, names, { timeoutMs: 3_000, signal }),
    onError: (e) => log.debug({ err: e }, "metrics: cannot read the watched units"),
  });
  const rosSpec = deps.health.ros;
  if (rosSpec && deps.monitor) {
    watchTopics(metrics, {
      topics: rosSpec.topics.map((t) => t.name),
      rateWindowSeconds: rosSpec.rateWindowSeconds,
      monitor: deps.monitor,
      clock: monotonicClock,
    });
  }
}
