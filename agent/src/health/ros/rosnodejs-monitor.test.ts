import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../errors.js";
import { judgeTopic } from "../checks/ros.js";
import { monotonicClock } from "../clock.js";
import { evaluateHealth } from "../evaluate.js";
import { createHealthChecker } from "../index.js";
import { compileHealthConfig } from "../spec.js";
import { FakeRunner } from "../testing/fakes.js";
import { freePort, RosRig } from "../testing/ros-fixture.js";
import type { GraphState } from "./graph.js";
import { RosnodejsMonitor, type RosnodejsMonitorOptions } from "./rosnodejs-monitor.js";
import { rosApiCall } from "./xmlrpc.js";

// Real ROS 1 (Debian's roscore, rospy publishers) and real rosnodejs. The monitor is a
// process-wide singleton (rosnodejs is), so each test opens one and closes it afterwards.

const SETUP = fileURLToPath(new URL("../testing/setup-ros.sh", import.meta.url));
const CHILD = fileURLToPath(new URL("../testing/monitor-child.ts", import.meta.url));
const never = new AbortController().signal;

let rig: RosRig;
let monitor: RosnodejsMonitor | undefined;

beforeAll(async () => {
  // Idempotent; installs Debian's ROS 1 packages on a fresh machine (~20 s), else ~0.1 s.
  execFileSync("bash", [SETUP], { stdio: "inherit" });
  rig = await RosRig.create();
  await rig.startCore();
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

afterEach(async () => {
  await monitor?.close();
  monitor = undefined;
});

function open(
  masterUri = rig.masterUri,
  masterTimeoutMs = 1500,
  more: Partial<RosnodejsMonitorOptions> = {},
): RosnodejsMonitor {
  monitor = new RosnodejsMonitor({
    masterUri,
    nodeName: "/rr_health_test",
    advertiseIp: "127.0.0.1",
    masterTimeoutMs,
    retainMs: 10_000,
    clock: monotonicClock,
    ...more,
  });
  return monitor;
}

/** One round as the evaluator does it: query the master (if it answers), then sync. */
async function round(m: RosnodejsMonitor, topics: string[]): Promise<GraphState | undefined> {
  const state = await m.query(never).catch(() => undefined);
  await m.sync(topics, state, never);
  return state;
}

async function until<T>(
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

function firstMessage(m: RosnodejsMonitor, topic: string): Promise<number> {
  return until(`a message on ${topic}`, async () => {
    await round(m, [topic]);
    return m.sample(topic, 0).lastMessageAtMs;
  });
}

function rateHz(m: RosnodejsMonitor, topic: string, windowMs: number): number {
  return m.sample(topic, monotonicClock.now() - windowMs).messagesInWindow / (windowMs / 1000);
}

const SILENCE = { minRateHz: undefined, maxSilenceSeconds: 0.5 };

describe("RosnodejsMonitor on a real ROS graph", () => {
  it("learns ANY message type from the publisher and measures its rate", async () => {
    const kinds = [
      ["string", "/any/string", "std_msgs/String"],
      ["header", "/any/header", "std_msgs/Header"],
      ["pose", "/any/pose", "geometry_msgs/PoseStamped"],
      ["custom", "/any/custom", "ros_rollback_test/Telemetry"],
    ] as const;
    const talkers = kinds.map(([kind, topic]) => rig.talker(kind, topic, 20, `/any_${kind}`));
    const m = open();
    const topics = kinds.map(([, t]) => t);
    await until("messages on every topic", async () => {
      await round(m, topics);
      return topics.every((t) => m.sample(t, 0).lastMessageAtMs !== undefined);
    });
    await new Promise((r) => setTimeout(r, 1100));
    for (const [, topic, type] of kinds) {
      const s = m.sample(topic, 0);
      expect(s.type).toBe(type);
      expect(s.connectedPublishers).toBe(1);
      expect(rateHz(m, topic, 1000)).toBeGreaterThan(14);
      expect(rateHz(m, topic, 1000)).toBeLessThan(26);
    }
    // The master lists our node as a subscriber with the learned types.
    const state = await m.query(never);
    expect(state.topicTypes.get("/any/custom")).toBe("ros_rollback_test/Telemetry");
    expect(state.nodes.has("/rr_health_test")).toBe(true);
    await Promise.all(talkers.map((t) => rig.stop(t)));
  });

  it("sees a stopped publisher (SIGSTOP) by silence alone: it stays connected", async () => {
    const talker = rig.talker("string", "/stop", 20, "/stop_talker");
    const m = open();
    await firstMessage(m, "/stop");
    rig.signal(talker, "SIGSTOP");
    const stoppedAt = monotonicClock.now();
    const v = await until("silence", async () => {
      await round(m, ["/stop"]);
      const j = judgeTopic({ name: "/stop", ...SILENCE }, m.sample("/stop", 0), monotonicClock.now(), 1000);
      return j.healthy ? undefined : j;
    });
    expect(monotonicClock.now() - stoppedAt).toBeLessThan(1500);
    expect(v.reason).toMatch(/^topic \/stop silent for 0\.\d s \(max 0\.5 s\); 1 publisher\(s\) connected$/);
    rig.signal(talker, "SIGCONT");
    await until("messages again", () => {
      const j = judgeTopic({ name: "/stop", ...SILENCE }, m.sample("/stop", 0), monotonicClock.now(), 1000);
      return j.healthy ? j : undefined;
    });
    await rig.stop(talker);
  });

  it("sees a killed publisher (SIGKILL): silent, disconnected, still registered but unreachable", async () => {
    const talker = rig.talker("header", "/killed", 20, "/killed_talker");
    const m = open();
    await firstMessage(m, "/killed");
    rig.signal(talker, "SIGKILL");
    const v = await until("silence", async () => {
      await round(m, ["/killed"]);
      const j = judgeTopic(
        { name: "/killed", ...SILENCE },
        m.sample("/killed", 0),
        monotonicClock.now(),
        1000,
      );
      return j.healthy ? undefined : j;
    });
    expect(v.reason).toMatch(
      /^topic \/killed silent for 0\.\d s \(max 0\.5 s\); no publisher connected; publisher \/killed_talker: .*ECONNREFUSED/,
    );
  });

  it("a topic nobody publishes reports that no publisher is registered", async () => {
    const m = open();
    await round(m, ["/nobody"]);
    expect(m.sample("/nobody", 0)).toMatchObject({
      lastMessageAtMs: undefined,
      type: undefined,
      problem: "no publisher registered with the ROS master",
    });
    // ...and is picked up as soon as a publisher appears.
    const talker = rig.talker("pose", "/nobody", 20, "/late_talker");
    await firstMessage(m, "/nobody");
    expect(m.sample("/nobody", 0).type).toBe("geometry_msgs/PoseStamped");
    await rig.stop(talker);
  });

  it("follows a topic whose type changed (a new generation with a new message definition)", async () => {
    const old = rig.talker("string", "/morph", 20, "/morph_talker");
    const m = open();
    await firstMessage(m, "/morph");
    expect(m.sample("/morph", 0).type).toBe("std_msgs/String");
    await rig.stop(old);
    const neu = rig.talker("custom", "/morph", 20, "/morph_talker");
    const since = monotonicClock.now();
    // Generous: a python talker that builds its type at run time starts slowly on a loaded CI machine.
    await until(
      "messages of the new type",
      async () => {
        await round(m, ["/morph"]);
        return m.sample("/morph", since).messagesInWindow > 3;
      },
      25_000,
    );
    expect(m.sample("/morph", 0).type).toBe("ros_rollback_test/Telemetry");
    await rig.stop(neu);
  }, 40_000);

  it("subscribes again when rosnodejs lost its connection to a publisher that is still there", async () => {
    const talker = rig.talker("string", "/dropped", 20, "/dropping_talker");
    const warnings: string[] = [];
    const m = open(rig.masterUri, 1500, {
      resubscribeAfterMs: 500,
      log: { warn: (_, msg) => warnings.push(msg) },
    });
    await firstMessage(m, "/dropped");
    // rosnodejs sees the hang-up but never reconnects by itself: the talker stays registered.
    rig.signal(talker, "SIGUSR1");
    await until("rosnodejs to see the hang-up", () => m.sample("/dropped", 0).connectedPublishers === 0);
    const since = monotonicClock.now();
    await until(
      "messages again",
      async () => {
        await round(m, ["/dropped"]);
        return m.sample("/dropped", since).messagesInWindow > 3;
      },
      20_000,
    );
    expect(warnings).toContain(
      "rosnodejs holds no connection to a publisher that answers: subscribing again",
    );
    await rig.stop(talker);
  }, 40_000);

  it("passes evaluateHealth end to end, and fails it naming the silent topic", async () => {
    const talker = rig.talker("custom", "/e2e", 20, "/e2e_talker");
    const m = open();
    const deps = {
      clock: monotonicClock,
      runner: new FakeRunner(),
      fetch: () => Promise.reject(new Error("unused")),
      ros: { graph: m, monitor: m },
    };
    const spec = compileHealthConfig({
      settleSeconds: 1,
      stableSeconds: 1,
      timeoutSeconds: 4,
      intervalSeconds: 0.25,
      ros: {
        masterUri: rig.masterUri,
        rateWindowSeconds: 1,
        topics: [{ name: "/e2e", minRateHz: 10, maxSilenceSeconds: 0.5 }],
        requiredNodes: ["/e2e_talker"],
      },
    });
    const ok = await evaluateHealth(spec, deps, {}, never);
    expect(ok).toMatchObject({ healthy: true });
    expect(ok.report.results.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^ROS master up \(run_id .+\)$/),
      "node /e2e_talker registered",
      expect.stringMatching(
        /^topic \/e2e \d+\.\d Hz, last message 0\.\d s ago \(ros_rollback_test\/Telemetry\)$/,
      ),
    ]);
    await rig.stop(talker);
    const started = Date.now();
    const bad = await evaluateHealth({ ...spec, settleSeconds: 0, timeoutSeconds: 1.5 }, deps, {}, never);
    expect(bad.healthy).toBe(false);
    // The topic's silence joins the reason only once it exceeds 0.5 s, which load may delay past
    // the evaluator's early give-up; the unregistered node is always named.
    expect(bad.reason).toMatch(
      /^not healthy for 1 s within 1\.5 s: node \/e2e_talker not registered with the ROS master/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a master that is not running: clear reason within the timeout, node start bounded", async () => {
    const uri = `http://127.0.0.1:${await freePort()}`;
    const m = open(uri, 800);
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
    const talker = rig.talker("string", "/hung", 20, "/hung_talker");
    const m = open(rig.masterUri, 700);
    await firstMessage(m, "/hung");
    const core = rig.core;
    if (core === undefined) throw new Error("no core");
    await rig.signalTree(core, "SIGSTOP");
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
      await rig.signalTree(core, "SIGCONT");
      await rig.stop(talker);
    }
  });

  it("a restarted master: seen by its run id, our node re-registers, a restarted publisher is found again", async () => {
    const talker = rig.talker("header", "/restart", 20, "/restart_talker");
    const m = open(rig.masterUri, 1000);
    const first = await until("a message", async () => {
      const s = await round(m, ["/restart"]);
      return m.sample("/restart", 0).lastMessageAtMs !== undefined ? s : undefined;
    });
    await rig.stopCore();
    const started = Date.now();
    expect(await m.query(never).catch((e: unknown) => (e as Error).message)).toMatch(/ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(1000);
    // Connected publishers keep sending while the master is away.
    await m.sync(["/restart"], undefined, never);
    const count = m.sample("/restart", 0).messagesInWindow;
    await until("messages without a master", () => m.sample("/restart", 0).messagesInWindow > count + 5);

    await rig.startCore();
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
    await rig.stop(talker);
    const again = rig.talker("header", "/restart", 20, "/restart_talker");
    const since = monotonicClock.now();
    await until("messages from the restarted talker", async () => {
      await round(m, ["/restart"]);
      return m.sample("/restart", since).messagesInWindow > 3;
    });
    await rig.stop(again);
  });
});

describe("signals in a process like the agent (real child processes)", () => {
  async function child(args: string[]): Promise<{ proc: ReturnType<typeof spawn>; out: () => string }> {
    const proc = spawn(process.execPath, ["--import", "tsx", CHILD, rig.masterUri, "/sig", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ROS_MASTER_URI: rig.masterUri },
    });
    let out = "";
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    try {
      await until("the child to get a message", () => out.includes("ready") || undefined, 15_000);
    } catch (e) {
      proc.kill("SIGKILL");
      throw new Error(`${(e as Error).message}; it printed: ${out}`);
    }
    return { proc, out: () => out };
  }

  function exited(
    proc: ReturnType<typeof spawn>,
    ms: number,
  ): Promise<{ code: number | null; signal: string | null }> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`child still running after ${ms} ms`)), ms);
      proc.once("exit", (code, signal) => {
        clearTimeout(t);
        resolve({ code, signal });
      });
    });
  }

  async function subscribers(topic: string): Promise<string[]> {
    const system = await rosApiCall(rig.masterUri, "getSystemState", ["/test"], { timeoutMs: 2000 });
    const subs = Array.isArray(system) && Array.isArray(system[1]) ? system[1] : [];
    for (const e of subs)
      if (Array.isArray(e) && e[0] === topic && Array.isArray(e[1])) return e[1].map(String);
    return [];
  }

  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s: the handler closes the node, the master forgets it, the process ends by itself",
    async (sig) => {
      const talker = rig.talker("string", "/sig", 20, "/sig_talker");
      const node = `/rr_child_${sig.toLowerCase()}`;
      const { proc, out } = await child([node]);
      try {
        expect(await subscribers("/sig")).toContain(node);
        proc.kill(sig);
        expect(await exited(proc, 5000)).toEqual({ code: 0, signal: null });
        expect(out()).toContain(`closed on ${sig}`);
        expect(await subscribers("/sig")).not.toContain(node);
      } finally {
        proc.kill("SIGKILL");
        await rig.stop(talker);
      }
    },
  );

  it("without a handler, SIGINT still ends the process (rosnodejs' own handler is removed)", async () => {
    const talker = rig.talker("string", "/sig", 20, "/sig_talker2");
    const { proc } = await child(["/rr_child_nohandler", "--no-handler"]);
    try {
      proc.kill("SIGINT");
      expect(await exited(proc, 3000)).toEqual({ code: null, signal: "SIGINT" });
    } finally {
      proc.kill("SIGKILL");
      await rig.stop(talker);
    }
  });
});
