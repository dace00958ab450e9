/**
 * Health checks after a generation switch: systemd units, ROS 1 topic
 * liveness, exec and HTTP probes, judged over a settle + stable window.
 * See README.md in this directory.
 */
import type { CommandRunner } from "../system/command.js";
import type { Fetch } from "./checks/probes.js";
import { type Clock, monotonicClock } from "./clock.js";
import { HealthChecker, type HealthDeps } from "./evaluate.js";
import { type MonitorLog, RosnodejsMonitor } from "./ros/rosnodejs-monitor.js";
import type { HealthSpec } from "./spec.js";

export type { Fetch } from "./checks/probes.js";
export type { CheckKind, CheckResult } from "./checks/types.js";
export { type Clock, monotonicClock } from "./clock.js";
export {
  type EvaluateOptions,
  evaluateHealth,
  HealthChecker,
  type HealthDeps,
  type HealthMonitor,
  type HealthOutcome,
  type HealthReport,
} from "./evaluate.js";
export { mergeHealthSpec, type PerDeployHealth, perDeployHealthSchema } from "./per-deploy.js";
export type { GraphState, RosGraph, TopicMonitor, TopicSample } from "./ros/graph.js";
export { type MonitorLog, RosnodejsMonitor, type RosnodejsMonitorOptions } from "./ros/rosnodejs-monitor.js";
export {
  type AddableKind,
  CHECK_KINDS,
  checkIds,
  compileHealthConfig,
  HEALTH_DEFAULTS,
  type HealthSpec,
  healthConfigSchema,
  type RawHealthConfig,
} from "./spec.js";

/**
 * The production wiring: real clock, the global fetch, and (when the config
 * has a `ros` section) a RosnodejsMonitor, which starts nothing until the
 * first round. Call `close()` on SIGTERM/SIGINT before exiting.
 */
export function createHealthChecker(
  spec: HealthSpec,
  options: {
    readonly runner: CommandRunner;
    readonly log?: MonitorLog;
    readonly clock?: Clock;
    readonly fetch?: Fetch;
  },
): HealthChecker {
  const clock = options.clock ?? monotonicClock;
  let ros: HealthDeps["ros"];
  if (spec.ros !== undefined) {
    const monitor = new RosnodejsMonitor({
      masterUri: spec.ros.masterUri,
      nodeName: spec.ros.nodeName,
      advertiseIp: spec.ros.advertiseIp,
      masterTimeoutMs: spec.ros.masterTimeoutSeconds * 1000,
      retainMs: spec.ros.rateWindowSeconds * 1000 + 1000,
      clock,
      log: options.log,
    });
    ros = { graph: monitor, monitor };
  }
  return new HealthChecker(spec, {
    clock,
    runner: options.runner,
    fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    ros,
  });
}
