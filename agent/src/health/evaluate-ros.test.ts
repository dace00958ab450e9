// evaluateHealth's ROS checks: the master, required nodes and topics, on virtual time.
import { describe, expect, it } from "vitest";
import { evaluateHealth, type HealthDeps } from "./evaluate.js";
import { compileHealthConfig } from "./spec.js";
import { BASE, evaluate, failingReasons, rig } from "./testing/evaluate-rig.js";
import { graph, liveTopic } from "./testing/fakes.js";

describe("evaluateHealth: ROS checks", () => {
  it("an unreachable master is unhealthy; topics are still judged (connected publishers keep sending)", async () => {
    const r = rig();
    r.ros.state = undefined;
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 12 });
    expect(out.healthy).toBe(false);
    const byId = new Map(out.report.results.map((x) => [x.id, x]));
    expect(byId.get("ros:master")?.reason).toBe(
      "ROS master http://127.0.0.1:11311 unreachable: connect ECONNREFUSED 127.0.0.1:11311",
    );
    expect(byId.get("node:/talker")?.reason).toBe("node /talker: unknown, the ROS master is unreachable");
    expect(byId.get("topic:/chatter")?.healthy).toBe(true);
  });

  it("a master that does not answer is cut at the check timeout", async () => {
    const r = rig();
    r.ros.hang = true;
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 12 });
    expect(out.report.results.find((x) => x.id === "ros:master")?.reason).toBe(
      "ros master: timed out after 5.0 s",
    );
    expect(out.report.results.find((x) => x.id === "topic:/chatter")?.reason).toBe(
      "topic /chatter: timed out after 5.0 s",
    );
  });

  it("a master restart during the window (new run_id) breaks the stable period", async () => {
    const r = rig();
    let rounds = 0;
    const query = r.ros.query.bind(r.ros);
    r.ros.query = (signal) => {
      rounds += 1;
      if (rounds === 5) r.ros.state = graph("run-2", { "/chatter": ["/talker"] });
      return query(signal);
    };
    const out = await evaluate(r);
    expect(out.healthy).toBe(true);
    expect(failingReasons(r)).toEqual(["ROS master restarted during the window (run_id run-1 → run-2)"]);
  });

  it("a required node that is not registered is unhealthy", async () => {
    const r = rig();
    r.ros.state = graph("run-1", { "/chatter": ["/other"] });
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 12 });
    expect(out.reason).toMatch(/node \/talker not registered with the ROS master/);
  });

  it("a silent topic is unhealthy, reporting for how long", async () => {
    const r = rig();
    const last = r.clock.now() + 3000;
    r.ros.samples.set("/chatter", (windowStart) => ({
      ...liveTopic(r.clock, 10, r.clock.now() - 100_000)(windowStart),
      lastMessageAtMs: last,
    }));
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 12 });
    expect(out.healthy).toBe(false);
    expect(out.reason).toMatch(
      /topic \/chatter silent for \d+\.\d s \(max 2 s\); 1 publisher\(s\) connected$/,
    );
  });

  it("a slow topic is unhealthy, reporting its rate", async () => {
    const r = rig();
    r.ros.samples.set("/chatter", liveTopic(r.clock, 2, r.clock.now() - 100_000));
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 12 });
    expect(out.reason).toMatch(/topic \/chatter at 2\.0 Hz \(min 5 Hz over 4\.0 s\)/);
  });

  it("without a ROS monitor every ROS check is unhealthy", async () => {
    const r = rig();
    const deps: HealthDeps = { ...r.deps, ros: undefined };
    const out = await evaluateHealth(
      compileHealthConfig({ ...BASE, timeoutSeconds: 12 }),
      deps,
      {},
      new AbortController().signal,
    );
    expect(out.report.results.find((x) => x.id === "topic:/chatter")?.reason).toBe(
      "topic /chatter: no ROS monitor configured",
    );
  });
});
