import type { Logger } from "pino";
import type { CommandRunner } from "../system/command.js";
import { listFailedUnits } from "./checks/units.js";
import { monotonicClock } from "./clock.js";
import { HealthChecker } from "./evaluate.js";
import { RosnodejsMonitor } from "./ros/rosnodejs-monitor.js";
import type { HealthSpec } from "./spec.js";

/**
 * The health checks wired for main.ts: createHealthChecker's wiring, keeping the ROS monitor so
 * metrics and holds can read topics from it, and the port the deployer judges through.
 */
export function wireHealth(spec: HealthSpec, runner: CommandRunner, log: Logger) {
  const rosSpec = spec.ros;
  const rosLog = log.child({ component: "rosnodejs" });
  const monitor =
    rosSpec &&
    new RosnodejsMonitor({
      masterUri: rosSpec.masterUri,
      nodeName: rosSpec.nodeName,
      advertiseIp: rosSpec.advertiseIp,
      masterTimeoutMs: rosSpec.masterTimeoutSeconds * 1000,
      retainMs: rosSpec.rateWindowSeconds * 1000 + 1000,
      clock: monotonicClock,
      log: { warn: (obj, msg) => rosLog.warn(obj, msg) },
    });
  const checker = new HealthChecker(spec, {
    clock: monotonicClock,
    runner,
    fetch: (url, init) => fetch(url, init),
    ros: monitor && { graph: monitor, monitor },
  });
  const health = {
    evaluate: (
      spec: HealthSpec,
      onReport: Parameters<typeof checker.evaluate>[0]["onReport"],
      signal: AbortSignal,
    ) => checker.evaluate({ onReport }, signal, spec),
    monitor: (spec: HealthSpec) => checker.monitor(spec),
    failedUnits: (signal: AbortSignal) => listFailedUnits(runner, { timeoutMs: 10_000, signal }),
  };
  return { monitor, checker, health };
}
