import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll } from "vitest";
import { monotonicClock } from "../clock.js";
import type { GraphState } from "../ros/graph.js";
import { RosnodejsMonitor, type RosnodejsMonitorOptions } from "../ros/rosnodejs-monitor.js";
import { RosRig } from "./ros-fixture.js";

/**
 * Real ROS 1 (Debian's roscore, rospy publishers) for RosnodejsMonitor tests:
 * one roscore per test file (testing/ros-fixture.ts). The monitor is a
 * process-wide singleton (rosnodejs is), so each test opens one with `open`
 * and it is closed after the test.
 */
export class MonitorRig {
  #ros: RosRig | undefined;
  #monitor: RosnodejsMonitor | undefined;

  get ros(): RosRig {
    if (this.#ros === undefined) throw new Error("the ROS rig is not started (use it inside a test or hook)");
    return this.#ros;
  }

  async start(): Promise<void> {
    // Idempotent; installs Debian's ROS 1 packages on a fresh machine (~20 s), else ~0.1 s.
    execFileSync("bash", [SETUP], { stdio: "inherit" });
    this.#ros = await RosRig.create();
    await this.#ros.startCore();
  }

  /** The test's monitor, as node /rr_health_test. */
  open(
    masterUri = this.ros.masterUri,
    masterTimeoutMs = 1500,
    more: Partial<RosnodejsMonitorOptions> = {},
  ): RosnodejsMonitor {
    this.#monitor = new RosnodejsMonitor({
      masterUri,
      nodeName: "/rr_health_test",
      advertiseIp: "127.0.0.1",
      masterTimeoutMs,
      retainMs: 10_000,
      clock: monotonicClock,
      ...more,
    });
    return this.#monitor;
  }

  async close(): Promise<void> {
    await this.#ros?.close();
  }

  async closeMonitor(): Promise<void> {
    await this.#monitor?.close();
    this.#monitor = undefined;
  }
}

const SETUP = fileURLToPath(new URL("./setup-ros.sh", import.meta.url));

/** A MonitorRig with roscore started before the file's tests and stopped after them. */
export function useMonitorRig(): MonitorRig {
  const rig = new MonitorRig();
  beforeAll(() => rig.start(), 180_000);
  afterAll(() => rig.close());
  afterEach(() => rig.closeMonitor());
  return rig;
}

export const never = new AbortController().signal;

/** One round as the evaluator does it: query the master (if it answers), then sync. */
export async function round(m: RosnodejsMonitor, topics: string[]): Promise<GraphState | undefined> {
  const state = await m.query(never).catch(() => undefined);
  await m.sync(topics, state, never);
  return state;
}

/** Polls `f` every 50 ms until it gives a value (not undefined or false); fails after `ms`. */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 8000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function firstMessage(m: RosnodejsMonitor, topic: string): Promise<number> {
  return until(`a message on ${topic}`, async () => {
    await round(m, [topic]);
    return m.sample(topic, 0).lastMessageAtMs;
  });
}
