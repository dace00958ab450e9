// Shared by the evaluateHealth tests: a config for one unit, one node and one topic, and a rig on
// virtual time (fake clock, runner, ROS graph and monitor) whose rounds are all healthy until told.
import type { CommandResult } from "../../system/command.js";
import { evaluateHealth, type HealthDeps, type HealthReport } from "../evaluate.js";
import { compileHealthConfig, type RawHealthConfig } from "../spec.js";
import { FakeClock } from "./fake-clock.js";
import { FakeRos, FakeRunner, graph, liveTopic, ok, showBlock } from "./fakes.js";

export const BASE: RawHealthConfig = {
  settleSeconds: 4,
  stableSeconds: 10,
  timeoutSeconds: 60,
  intervalSeconds: 2,
  checkTimeoutSeconds: 5,
  systemd: { units: [{ name: "talker.service" }] },
  ros: {
    topics: [{ name: "/chatter", minRateHz: 5, maxSilenceSeconds: 2 }],
    rateWindowSeconds: 4,
    requiredNodes: ["/talker"],
  },
};

export interface Rig {
  clock: FakeClock;
  runner: FakeRunner;
  ros: FakeRos;
  deps: HealthDeps;
  reports: HealthReport[];
  /** What the next `systemctl show` prints; a function of the call number. */
  unit: (call: number) => CommandResult | Promise<CommandResult>;
}

export function rig(): Rig {
  const clock = new FakeClock();
  const ros = new FakeRos();
  ros.state = graph("run-1", { "/chatter": ["/talker"] });
  ros.samples.set("/chatter", liveTopic(clock, 10, clock.now() - 60_000));
  let calls = 0;
  const r: Rig = {
    clock,
    ros,
    reports: [],
    runner: new FakeRunner(),
    unit: () => ok(showBlock({ id: "talker.service", mainPid: 42, nRestarts: 0, enter: 7 })),
    deps: undefined as unknown as HealthDeps,
  };
  r.runner.on("systemctl show", () => r.unit(calls++));
  r.deps = {
    clock,
    runner: r.runner,
    fetch: () => Promise.reject(new Error("no fetch expected")),
    ros: { graph: ros, monitor: ros },
  };
  return r;
}

export async function evaluate(r: Rig, raw: RawHealthConfig = BASE, signal = new AbortController().signal) {
  return evaluateHealth(compileHealthConfig(raw), r.deps, { onReport: (x) => r.reports.push(x) }, signal);
}

export function failingReasons(r: Rig): string[] {
  return r.reports.filter((x) => !x.healthy).map((x) => x.reason);
}
