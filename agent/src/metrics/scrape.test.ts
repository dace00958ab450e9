import { describe, expect, it } from "vitest";
import type { UnitState } from "../health/checks/units.js";
import type { TopicSample } from "../health/index.js";
import { createAgentMetrics } from "./registry.js";
import { watchHolds, watchTopics, watchUnits } from "./scrape.js";
import { metricValue } from "./testing.js";

const unit = (name: string, activeState: string, nRestarts: number | undefined): UnitState => ({
  name,
  loadState: "loaded",
  activeState,
  subState: activeState === "active" ? "running" : "dead",
  result: "success",
  nRestarts,
  mainPid: 1,
  activeEnterMonotonic: 1,
});

describe("readings at scrape time", () => {
  it("reads the holds once per scrape, by source; a failed read drops the series", async () => {
    const m = createAgentMetrics({ version: "0", defaultMetrics: false });
    const hold = (name: string, source: "command" | "file" | "condition") => ({
      name,
      source,
      reason: "r",
      since: 0,
      expiresAt: undefined,
    });
    let reads = 0;
    let fail = false;
    const errors: unknown[] = [];
    watchHolds(m, {
      read: async () => {
        reads += 1;
        if (fail) throw new Error("EACCES on the hold dir");
        return [hold("mission", "file"), hold("ops", "command"), hold("dock", "file")];
      },
      onError: (e) => errors.push(e),
    });
    expect(reads).toBe(0);
    const text = await m.registry.metrics();
    expect(reads).toBe(1);
    expect(text).toContain('ros_rollback_holds_active{source="file"} 2');
    expect(text).toContain('ros_rollback_holds_active{source="command"} 1');
    expect(text).toContain('ros_rollback_holds_active{source="condition"} 0');
    fail = true;
    const after = await m.registry.metrics();
    expect(reads).toBe(2);
    expect(after).not.toContain("ros_rollback_holds_active{");
    expect(errors).toHaveLength(1);
  });

  it("reads the watched units once per scrape: active and systemd's restart count", async () => {
    const m = createAgentMetrics({ version: "0", defaultMetrics: false });
    let reads = 0;
    let fail = false;
    watchUnits(m, {
      units: ["talker.service", "roscore.service", "x.timer"],
      read: async (names) => {
        reads += 1;
        if (fail) throw new Error("systemctl hung");
        return new Map([
          [names[0] ?? "", unit("talker.service", "active", 2)],
          [names[1] ?? "", unit("roscore.service", "failed", 0)],
          [names[2] ?? "", unit("x.timer", "active", undefined)],
        ]);
      },
    });
    const text = await m.registry.metrics();
    expect(reads).toBe(1);
    expect(text).toContain('ros_rollback_systemd_unit_active{unit="talker.service"} 1');
    expect(text).toContain('ros_rollback_systemd_unit_active{unit="roscore.service"} 0');
    expect(text).toContain('ros_rollback_systemd_unit_restarts{unit="talker.service"} 2');
    expect(text).not.toContain('ros_rollback_systemd_unit_restarts{unit="x.timer"}');
    fail = true;
    await new Promise((r) => setTimeout(r, 1_050));
    const after = await m.registry.metrics();
    expect(reads).toBe(2);
    expect(after).not.toContain("ros_rollback_systemd_unit_active{");
  });

  it("reports topic rate over the window and seconds since the last message; unwatched topics have no series", async () => {
    const m = createAgentMetrics({ version: "0", defaultMetrics: false });
    let now = 100_000;
    const samples: Record<string, TopicSample> = {
      "/chatter": {
        watchingSinceMs: 10_000,
        lastMessageAtMs: 99_500,
        messagesInWindow: 30,
        connectedPublishers: 1,
        type: "std_msgs/String",
        problem: undefined,
      },
      "/silent": {
        watchingSinceMs: 98_000,
        lastMessageAtMs: undefined,
        messagesInWindow: 0,
        connectedPublishers: 0,
        type: undefined,
        problem: undefined,
      },
    };
    const asked: number[] = [];
    watchTopics(m, {
      topics: ["/chatter", "/silent", "/never"],
      rateWindowSeconds: 3,
      clock: { now: () => now },
      monitor: {
        sample: (topic, windowStartMs) => {
          asked.push(windowStartMs);
          return (
            samples[topic] ?? {
              watchingSinceMs: undefined,
              lastMessageAtMs: undefined,
              messagesInWindow: 0,
              connectedPublishers: 0,
              type: undefined,
              problem: undefined,
            }
          );
        },
      },
    });
    const v = (name: string, topic: string) => metricValue(m.registry, name, { topic });
    expect(await v("ros_rollback_ros_topic_rate_hertz", "/chatter")).toBe(10);
    expect(await v("ros_rollback_ros_topic_last_message_age_seconds", "/chatter")).toBe(0.5);
    expect(asked[0]).toBe(97_000);
    // Watched for 2 s of the 3 s window, nothing yet: 0 Hz, silent for 2 s.
    expect(await v("ros_rollback_ros_topic_rate_hertz", "/silent")).toBe(0);
    expect(await v("ros_rollback_ros_topic_last_message_age_seconds", "/silent")).toBe(2);
    expect(await v("ros_rollback_ros_topic_rate_hertz", "/never")).toBeUndefined();
    now += 5_000;
    expect(await v("ros_rollback_ros_topic_last_message_age_seconds", "/chatter")).toBe(5.5);
  });
});
