import { describe, expect, it } from "vitest";
import { AgentError } from "../../errors.js";
import { monotonicClock } from "../clock.js";
import { createHealthChecker } from "../index.js";
import { compileHealthConfig } from "../spec.js";
import { FakeRunner } from "../testing/fakes.js";
import { firstMessage, never, round, until, useMonitorRig } from "../testing/monitor-rig.js";
import { freePort } from "../testing/ros-fixture.js";
import type { GraphState } from "./graph.js";

// Real ROS 1 (Debian's roscore, rospy publishers) and real rosnodejs (testing/monitor-rig.ts):
// a master that is down, hangs or restarts.

const mr = useMonitorRig();

describe("RosnodejsMonitor on a real ROS graph", () => {
  it("a master that is not running: clear reason within the timeout, node start bounded", async () => {
    const uri = `http://127.0.0.1:${await freePort()}`;
    const m = mr.open(uri, 800);
    const started = Date.now();
    const err = await m.query(never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as Error).message).toMatch(
      /getSystemState to http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/,
    );
    // Even told that a publisher exists, starting the node gives up within the timeout.
    const state: GraphState = {
      runId: "x",
      publishers: new Map([["/t", ["/talker"]]]),
      topicTypes: new Map(),
      nodes: new Set(),
    };
    await m.sync(["/t"], state, never);
    expect(m.sample("/t", 0).problem).toMatch(/^cannot start the ROS node: /);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("createHealthChecker: a snapshot against a master that is down answers within the master timeout", async () => {
    const spec = compileHealthConfig({
      ros: {
        masterUri: `http://127.0.0.1:${await freePort()}`,
        masterTimeoutSeconds: 0.5,
        topics: [{ name: "/x" }],
      },
    });
    const checker = createHealthChecker(spec, { runner: new FakeRunner() });
    try {
      const started = Date.now();
      const report = await checker.snapshot(never);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(report.healthy).toBe(false);
      expect(report.results.map((r) => r.reason)).toEqual([
        expect.stringMatching(
          /^ROS master http:\/\/127\.0\.0\.1:\d+ unreachable: getSystemState .* ECONNREFUSED/,
        ),
        "topic /x: no message yet (watching for 0.0 s)",
      ]);
    } finally {
      await checker.close();
      await checker.close();
    }
  });

  it("a master that hangs (SIGSTOP): queries time out, subscriptions keep counting, close() is bounded", async () => {
    const talker = mr.ros.talker("string", "/hung", 20, "/hung_talker");
    const m = mr.open(mr.ros.masterUri, 700);
    await firstMessage(m, "/hung");
    const core = mr.ros.core;
    if (core === undefined) throw new Error("no core");
    await mr.ros.signalTree(core, "SIGSTOP");
    try {
      const started = Date.now();
      const err = await m.query(never).catch((e: unknown) => e);
      expect((err as AgentError).code).toBe("TIMEOUT");
      expect((err as Error).message).toMatch(/no answer within 0\.7 s/);
      expect(Date.now() - started).toBeLessThan(1500);
      await m.sync(["/hung"], undefined, never);
      const before = m.sample("/hung", 0).messagesInWindow;
      await until(
        "messages while the master hangs",
        () => m.sample("/hung", 0).messagesInWindow > before + 5,
      );
      const closing = Date.now();
      await m.close();
      expect(Date.now() - closing).toBeLessThan(3000);
    } finally {
      await mr.ros.signalTree(core, "SIGCONT");
      await mr.ros.stop(talker);
    }
  });

  // Real processes: a roscore start and two rospy talkers (~7 s at a load of 11 on 2 cores).
  it("a restarted master: seen by its run id, our node re-registers, a restarted publisher is found again", async () => {
    const talker = mr.ros.talker("header", "/restart", 20, "/restart_talker");
    const m = mr.open(mr.ros.masterUri, 1000);
    const first = await until("a message", async () => {
      const s = await round(m, ["/restart"]);
      return m.sample("/restart", 0).lastMessageAtMs !== undefined ? s : undefined;
    });
    await crashCore();
    // Refused (or, on a kept-alive connection, reset) at once: not the 1 s timeout's "no answer within".
    expect(await m.query(never).catch((e: unknown) => (e as Error).message)).toMatch(
      /failed: .*(ECONNREFUSED|ECONNRESET)/,
    );
    // Connected publishers keep sending while the master is away.
    await m.sync(["/restart"], undefined, never);
    const count = m.sample("/restart", 0).messagesInWindow;
    await until("messages without a master", () => m.sample("/restart", 0).messagesInWindow > count + 5);

    await mr.ros.startCore();
    const second = await m.query(never);
    expect(second.runId).not.toBe(first.runId);
    // The old talker never re-registers with the new master: after our node re-registers,
    // the topic has no publisher, which is what a new subscriber on the robot would see too.
    await m.sync(["/restart"], second, never);
    expect(m.sample("/restart", 0).problem).toBe("no publisher registered with the ROS master");
    // Registration goes through rosnodejs' own master queue: it lands shortly after.
    await until("our node registered with the new master", async () =>
      (await m.query(never)).nodes.has("/rr_health_test"),
    );
    // The new talker starts (seconds of Python under load) while the old one stops.
    const again = mr.ros.talker("header", "/restart", 20, "/restart_talker");
    await mr.ros.stop(talker);
    const since = monotonicClock.now();
    await until("messages from the restarted talker", async () => {
      await round(m, ["/restart"]);
      return m.sample("/restart", since).messagesInWindow > 3;
    });
    await mr.ros.stop(again);
  }, 30_000);
});

/**
 * Kills roslaunch, rosmaster and rosout at once, as a crash would: a graceful stop
 * makes roslaunch take seconds (up to the rig's 3 s SIGKILL fallback) under load.
 */
async function crashCore(): Promise<void> {
  const core = mr.ros.core;
  if (core === undefined) throw new Error("no core");
  const exited = new Promise((resolve) => core.once("exit", resolve));
  await mr.ros.signalTree(core, "SIGKILL");
  await exited;
}
