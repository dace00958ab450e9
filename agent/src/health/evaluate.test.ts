import { describe, expect, it } from "vitest";
import { AgentError } from "../errors.js";
import type { CommandResult } from "../system/command.js";
import { evaluateHealth, HealthChecker, type HealthDeps } from "./evaluate.js";
import { compileHealthConfig } from "./spec.js";
import { BASE, evaluate, failingReasons, rig } from "./testing/evaluate-rig.js";
import { ok, showBlock } from "./testing/fakes.js";

// Every test here runs on virtual time: a 70-second evaluation takes milliseconds. The ROS
// checks (master, nodes, topics): evaluate-ros.test.ts.

describe("evaluateHealth", () => {
  it("settles, then passes once every round was healthy for stableSeconds", async () => {
    const r = rig();
    const realStart = Date.now();
    const out = await evaluate(r);
    expect(out.healthy).toBe(true);
    expect(out.reason).toMatch(/^healthy for 10 s \(\d+ rounds\)$/);
    expect(r.reports.map((x) => x.phase)).toEqual([
      "settling",
      "settling",
      ...Array(r.reports.length - 2).fill("checking"),
    ]);
    // First counted round at t=4 s, stable from then on: done at t=14 s.
    expect(out.report.elapsedSeconds).toBe(14);
    expect(out.report.stableForSeconds).toBe(10);
    expect(out.report.results.map((x) => x.id)).toEqual([
      "unit:talker.service",
      "ros:master",
      "node:/talker",
      "topic:/chatter",
    ]);
    expect(out.report.results.every((x) => x.healthy)).toBe(true);
    expect(out.report.results[3]?.reason).toMatch(
      /^topic \/chatter 10\.0 Hz, last message 0\.1 s ago \(std_msgs\/String\)$/,
    );
    expect(Date.now() - realStart).toBeLessThan(10_000); // the fake clock ran 14 s
    // The monitor was asked to watch from the very first round on (during settling).
    expect(r.ros.synced[0]).toEqual(["/chatter"]);
  });

  it("fails naming the failing unit, and gives up once a stable period cannot fit any more", async () => {
    const r = rig();
    r.unit = () =>
      ok(showBlock({ id: "talker.service", active: "failed", sub: "failed", result: "exit-code" }));
    const out = await evaluate(r);
    expect(out.healthy).toBe(false);
    expect(out.reason).toBe(
      "not healthy for 10 s within 60 s: unit talker.service failed (Result=exit-code)",
    );
    // Deadline at 64 s; the last round that could still start a 10 s stable period is at 54 s.
    expect(out.report.elapsedSeconds).toBeLessThanOrEqual(54);
    expect(out.report.elapsedSeconds).toBeGreaterThanOrEqual(52);
  });

  it("a unit restart during the window breaks the stable period (NRestarts grew)", async () => {
    const r = rig();
    r.unit = (call) =>
      ok(showBlock({ id: "talker.service", mainPid: 42, nRestarts: call >= 5 ? 1 : 0, enter: 7 }));
    const out = await evaluate(r);
    expect(out.healthy).toBe(true);
    expect(failingReasons(r)).toEqual([
      "unit talker.service restarted 1 time(s) during the window (NRestarts 0 → 1)",
    ]);
    // The stable period started again after the restart.
    expect(out.report.elapsedSeconds).toBeGreaterThan(14);
  });

  it("a manual restart (new MainPID) during the window breaks the stable period", async () => {
    const r = rig();
    r.unit = (call) =>
      ok(showBlock({ id: "talker.service", mainPid: call >= 4 ? 43 : 42, nRestarts: 0, enter: 7 }));
    await evaluate(r);
    expect(failingReasons(r)).toEqual(["unit talker.service restarted during the window (MainPID 42 → 43)"]);
  });

  it("flapping never becomes stable", async () => {
    const r = rig();
    r.unit = (call) =>
      ok(
        showBlock({
          id: "talker.service",
          active: call % 3 === 2 ? "activating" : "active",
          sub: "auto-restart",
        }),
      );
    const out = await evaluate(r);
    expect(out.healthy).toBe(false);
    expect(out.reason).toMatch(
      /^not healthy for 10 s within 60 s.*unit talker.service not active \(ActiveState=activating/,
    );
  });

  it("a check that throws is unhealthy with the error as its reason", async () => {
    const r = rig();
    r.unit = () => {
      throw new AgentError("EXTERNAL_COMMAND_FAILED", "cannot run systemctl: spawn systemctl ENOENT");
    };
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 12 });
    expect(out.healthy).toBe(false);
    expect(out.report.results[0]).toMatchObject({
      id: "unit:talker.service",
      healthy: false,
      reason: "unit talker.service: cannot run systemctl: spawn systemctl ENOENT",
    });
    // The other checks still ran and passed.
    expect(out.report.results.slice(1).every((x) => x.healthy)).toBe(true);
  });

  it("a check that hangs is cut at its timeout, and the rounds go on", async () => {
    const r = rig();
    r.unit = () => new Promise<CommandResult>(() => {});
    const out = await evaluate(r, { ...BASE, timeoutSeconds: 30 });
    expect(out.healthy).toBe(false);
    expect(out.report.results[0]).toMatchObject({
      healthy: false,
      reason: "unit talker.service: timed out after 5.0 s",
      durationMs: 5000,
    });
    expect(r.reports.length).toBeGreaterThan(2);
  });

  it("runs exec probes through the runner and reports their failure", async () => {
    const r = rig();
    r.runner.on("/usr/local/bin/check-disk", () => ({ code: 2, stdout: "", stderr: "only 1% free\n" }));
    const out = await evaluate(r, {
      ...BASE,
      timeoutSeconds: 12,
      exec: [{ name: "disk", argv: ["/usr/local/bin/check-disk"] }],
    });
    expect(out.report.results.find((x) => x.id === "exec:disk")?.reason).toBe(
      "exec disk exited 2: only 1% free",
    );
  });

  it("runs HTTP probes through the injected fetch", async () => {
    const r = rig();
    const deps: HealthDeps = { ...r.deps, fetch: async () => new Response("x", { status: 500 }) };
    const spec = compileHealthConfig({
      ...BASE,
      timeoutSeconds: 12,
      http: [{ name: "api", url: "http://127.0.0.1:8080/health" }],
    });
    const out = await evaluateHealth(spec, deps, {}, new AbortController().signal);
    expect(out.reason).toMatch(/http api GET http:\/\/127.0.0.1:8080\/health returned 500 \(expected 200\)/);
  });

  it("rejects with ABORTED when its signal is aborted, without waiting for the deadline", async () => {
    const r = rig();
    const ac = new AbortController();
    r.unit = (call) => {
      if (call === 3) ac.abort(new Error("agent shutting down"));
      return ok(showBlock({ id: "talker.service", active: "failed" }));
    };
    const err = await evaluate(r, BASE, ac.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("ABORTED");
    expect(r.reports.length).toBeLessThanOrEqual(4);
  });

  it("an exception in onReport ends the evaluation with it", async () => {
    const r = rig();
    const spec = compileHealthConfig(BASE);
    const boom = new Error("event store full");
    await expect(
      evaluateHealth(
        spec,
        r.deps,
        {
          onReport: () => {
            throw boom;
          },
        },
        new AbortController().signal,
      ),
    ).rejects.toBe(boom);
  });
});

describe("HealthChecker.snapshot", () => {
  it("runs one round now and judges the current state only, not restarts since an earlier snapshot", async () => {
    const r = rig();
    const checker = new HealthChecker(compileHealthConfig(BASE), r.deps);
    r.unit = (call) => ok(showBlock({ id: "talker.service", mainPid: 42, nRestarts: call, enter: 7 }));
    const first = await checker.snapshot(new AbortController().signal);
    expect(first).toMatchObject({ phase: "snapshot", round: 1, healthy: true, reason: "" });
    const second = await checker.snapshot(new AbortController().signal);
    expect(second).toMatchObject({ round: 2, healthy: true });
  });

  it("monitor(): the first round is the baseline; a restart after it is unhealthy", async () => {
    const r = rig();
    const checker = new HealthChecker(compileHealthConfig(BASE), r.deps);
    r.unit = (call) => ok(showBlock({ id: "talker.service", mainPid: 42, nRestarts: call, enter: 7 }));
    // Snapshots before do not leak into a monitor's baseline.
    await checker.snapshot(new AbortController().signal);
    const m = checker.monitor();
    expect((await m.round(new AbortController().signal)).healthy).toBe(true);
    const second = await m.round(new AbortController().signal);
    expect(second.healthy).toBe(false);
    expect(second.reason).toBe("unit talker.service restarted 1 time(s) during the window (NRestarts 1 → 2)");
  });

  it("formats a silent topic as 'silent for N s (max M s)'", async () => {
    const r = rig();
    const now = r.clock.now();
    r.ros.samples.set("/chatter", () => ({
      watchingSinceMs: now - 60_000,
      lastMessageAtMs: now - 3200,
      messagesInWindow: 0,
      connectedPublishers: 1,
      type: "std_msgs/String",
      problem: undefined,
    }));
    const checker = new HealthChecker(compileHealthConfig(BASE), r.deps);
    const report = await checker.snapshot(new AbortController().signal);
    expect(report.reason).toBe("topic /chatter silent for 3.2 s (max 2 s); 1 publisher(s) connected");
  });

  it("close() closes the ROS monitor", async () => {
    const r = rig();
    await new HealthChecker(compileHealthConfig(BASE), r.deps).close();
    expect(r.ros.closed).toBe(1);
  });
});
