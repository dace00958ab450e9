import { describe, expect, it } from "vitest";
import type { TopicSample } from "../ros/graph.js";
import { judgeNode, judgeTopic } from "./ros.js";

const topic = { name: "/chatter", minRateHz: 5, maxSilenceSeconds: 2 };
const NOW = 100_000;

function sample(p: Partial<TopicSample>): TopicSample {
  return {
    watchingSinceMs: NOW - 60_000,
    lastMessageAtMs: NOW - 100,
    messagesInWindow: 40,
    connectedPublishers: 1,
    type: "geometry_msgs/PoseStamped",
    problem: undefined,
    ...p,
  };
}

describe("judgeTopic", () => {
  it("is healthy with fresh messages at the rate", () => {
    expect(judgeTopic(topic, sample({}), NOW, 4000)).toEqual({
      healthy: true,
      reason: "topic /chatter 10.0 Hz, last message 0.1 s ago (geometry_msgs/PoseStamped)",
    });
  });

  it("is unhealthy before the first message, saying so and why", () => {
    expect(
      judgeTopic(
        topic,
        sample({
          watchingSinceMs: NOW - 500,
          lastMessageAtMs: undefined,
          type: undefined,
          problem: "no publisher registered with the ROS master",
        }),
        NOW,
        4000,
      ),
    ).toEqual({
      healthy: false,
      reason:
        "topic /chatter: no message yet (watching for 0.5 s); no publisher registered with the ROS master",
    });
    expect(
      judgeTopic(topic, sample({ lastMessageAtMs: undefined, connectedPublishers: 0 }), NOW, 4000).reason,
    ).toBe("topic /chatter silent for 60.0 s (max 2 s), no message yet; no publisher connected");
  });

  it("is unhealthy when silent, telling a stopped publisher (still connected) from a gone one", () => {
    expect(judgeTopic(topic, sample({ lastMessageAtMs: NOW - 3200 }), NOW, 4000).reason).toBe(
      "topic /chatter silent for 3.2 s (max 2 s); 1 publisher(s) connected",
    );
    expect(
      judgeTopic(
        topic,
        sample({
          lastMessageAtMs: NOW - 3200,
          connectedPublishers: 0,
          problem: "publisher /talker: ECONNREFUSED",
        }),
        NOW,
        4000,
      ).reason,
    ).toBe(
      "topic /chatter silent for 3.2 s (max 2 s); no publisher connected; publisher /talker: ECONNREFUSED",
    );
  });

  it("measures the rate over the window, once at least half of it was watched", () => {
    expect(judgeTopic(topic, sample({ messagesInWindow: 8 }), NOW, 4000).reason).toBe(
      "topic /chatter at 2.0 Hz (min 5 Hz over 4.0 s); 1 publisher(s) connected",
    );
    expect(
      judgeTopic(topic, sample({ watchingSinceMs: NOW - 1000, messagesInWindow: 10 }), NOW, 4000).reason,
    ).toBe("topic /chatter: rate not measured yet (watched 1.0 s of 4.0 s)");
    expect(
      judgeTopic(topic, sample({ watchingSinceMs: NOW - 2000, messagesInWindow: 20 }), NOW, 4000).healthy,
    ).toBe(true);
    // Without a minimum rate only silence counts.
    expect(
      judgeTopic({ ...topic, minRateHz: undefined }, sample({ messagesInWindow: 1 }), NOW, 4000),
    ).toEqual({
      healthy: true,
      reason: "topic /chatter last message 0.1 s ago (geometry_msgs/PoseStamped)",
    });
  });

  it("is unhealthy when never watched", () => {
    expect(judgeTopic(topic, sample({ watchingSinceMs: undefined }), NOW, 4000).reason).toBe(
      "topic /chatter is not being watched",
    );
  });
});

describe("judgeNode", () => {
  it("looks the node up in the master's state", () => {
    const state = { runId: "r", publishers: new Map(), topicTypes: new Map(), nodes: new Set(["/talker"]) };
    expect(judgeNode("/talker", state)).toEqual({ healthy: true, reason: "node /talker registered" });
    expect(judgeNode("/lidar", state).reason).toBe("node /lidar not registered with the ROS master");
  });
});
