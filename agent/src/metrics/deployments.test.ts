import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeploymentRecord, HealthSummary } from "../deployment/record.js";
import { DeployerLab, type Rig, SELF, until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";
import { healthObserver, observeDeployments } from "./deployments.js";
import { type AgentMetrics, createAgentMetrics } from "./registry.js";
import { metricValue } from "./testing.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());

async function observed(r: Rig) {
  const m = createAgentMetrics({ version: "9.9.9", defaultMetrics: false });
  const consumer = observeDeployments(m, r.deployer, healthObserver(m), {
    currentGeneration: async () => (await r.profile.current())?.number,
  });
  const v = async (name: string, labels: Record<string, string> = {}) => {
    await consumer.settled();
    return metricValue(m.registry, name, labels);
  };
  return { m, v };
}

async function finish(r: Rig, started: Promise<DeploymentRecord>): Promise<DeploymentRecord> {
  return until(r.deployer, (await started).id);
}

describe("deployment metrics from the deployer's records (real Deployer, real nix-env profile)", () => {
  it("counts outcomes and rollbacks on transitions, times the steps, and follows the generation", async () => {
    const r = await lab.rig("metrics-flow");
    const { m, v } = await observed(r);
    expect(await v("ros_rollback_agent_info", { version: "9.9.9" })).toBe(1);
    expect(await v("ros_rollback_generation")).toBe(0);
    expect(await v("ros_rollback_generation_confirmed")).toBe(1);

    await finish(r, r.deployer.activate(lab.sys("sys-a"), "switch", SELF));
    expect(await v("ros_rollback_deployments_total", { outcome: "confirmed" })).toBe(1);
    expect(await v("ros_rollback_generation")).toBe(1);
    expect(await v("ros_rollback_generation_confirmed")).toBe(1);
    expect(await v("ros_rollback_deployment_state", { state: "succeeded" })).toBe(1);
    expect(await v("ros_rollback_deployment_state", { state: "checking_health" })).toBe(0);
    expect(await v("ros_rollback_activation_duration_seconds_count", { kind: "activate" })).toBe(1);
    expect(await v("ros_rollback_health_evaluation_duration_seconds_count")).toBe(1);
    // FakeHealth's round: one unit check, healthy.
    expect(await v("ros_rollback_health_check_up", { check: "unit:talker.service", kind: "unit" })).toBe(1);
    expect(await v("ros_rollback_health_healthy")).toBe(1);

    // switch-to-configuration exits 4 → units_failed → rolled back (reason unhealthy).
    await finish(r, r.deployer.activate(lab.sys("sys-broken"), "switch", SELF));
    expect(await v("ros_rollback_rollbacks_total", { reason: "unhealthy" })).toBe(1);
    expect(await v("ros_rollback_deployments_total", { outcome: "rolled_back" })).toBe(1);
    expect(await v("ros_rollback_rollback_duration_seconds_count")).toBe(1);
    expect(await v("ros_rollback_generation")).toBe(1);
    expect(await v("ros_rollback_generation_confirmed")).toBe(1);
    expect(await v("ros_rollback_deployment_state", { state: "rolled_back" })).toBe(1);

    // Waiting for Confirm: not settled until the controller confirms.
    const waiting = await r.deployer.activate(lab.sys("sys-b"), "switch", {});
    await until(r.deployer, waiting.id, "awaiting_confirmation");
    expect(await v("ros_rollback_generation_confirmed")).toBe(0);
    expect(await v("ros_rollback_deployment_state", { state: "awaiting_confirmation" })).toBe(1);
    await r.deployer.confirm(waiting.id);
    expect(await v("ros_rollback_confirmation_duration_seconds_count")).toBe(1);
    expect(await v("ros_rollback_deployments_total", { outcome: "confirmed" })).toBe(2);
    expect(await v("ros_rollback_generation_confirmed")).toBe(1);
    const gen = (await r.profile.current())?.number;
    expect(await v("ros_rollback_generation")).toBe(gen);

    // A Rollback request counts as manual, not as a deployment outcome.
    await finish(r, r.deployer.rollback(undefined));
    expect(await v("ros_rollback_rollbacks_total", { reason: "manual" })).toBe(1);
    expect(await v("ros_rollback_activation_duration_seconds_count", { kind: "rollback" })).toBe(1);
    expect(await v("ros_rollback_deployments_total", { outcome: "confirmed" })).toBe(2);
    expect(await v("ros_rollback_generation")).toBe(1);
    // The labels that never happened are there, at 0.
    expect(await v("ros_rollback_rollbacks_total", { reason: "not_confirmed" })).toBe(0);
    expect(await v("ros_rollback_deployments_total", { outcome: "failed" })).toBe(0);
    m.registry.clear();
  });

  it("an unhealthy deployment rolls back with reason unhealthy and shows the failing check", async () => {
    const r = await lab.rig("metrics-unhealthy", { health: new FakeHealth([true, false, true]) });
    const { v } = await observed(r);
    await finish(r, r.deployer.activate(lab.sys("sys-a"), "switch", SELF));
    await finish(r, r.deployer.activate(lab.sys("sys-b"), "switch", SELF));
    expect(await v("ros_rollback_rollbacks_total", { reason: "unhealthy" })).toBe(1);
    expect(await v("ros_rollback_deployments_total", { outcome: "rolled_back" })).toBe(1);
    // The rollback judged the restored system healthy again (third verdict).
    expect(await v("ros_rollback_health_check_up", { check: "unit:talker.service", kind: "unit" })).toBe(1);
    expect(await v("ros_rollback_generation")).toBe(1);
  });

  it("a restarted agent shows the persisted deployment without counting it again", async () => {
    const r = await lab.rig("metrics-restart");
    await finish(r, r.deployer.activate(lab.sys("sys-a"), "switch", SELF));
    const { v } = await observed(r);
    expect(await v("ros_rollback_deployment_state", { state: "succeeded" })).toBe(1);
    expect(await v("ros_rollback_deployments_total", { outcome: "confirmed" })).toBe(0);
    expect(await v("ros_rollback_generation")).toBe(1);
  });
});

describe("health rounds", () => {
  const summary = (at: number, checks: [string, boolean][]): HealthSummary => ({
    healthy: checks.every(([, ok]) => ok),
    reason: "",
    phase: "checking",
    at,
    stableForSeconds: 0,
    checks: checks.map(([id, healthy]) => ({
      id,
      kind: id.split(":")[0] ?? "",
      healthy,
      reason: "",
      durationMs: 250,
    })),
  });

  it("shows exactly the checks of the newest round, ignoring an older one that arrives late", async () => {
    const m: AgentMetrics = createAgentMetrics({ version: "0", defaultMetrics: false });
    const onHealth = healthObserver(m);
    onHealth(
      summary(2_000, [
        ["unit:a.service", true],
        ["topic:/chatter", false],
      ]),
    );
    expect(await metricValue(m.registry, "ros_rollback_health_check_up", { check: "topic:/chatter" })).toBe(
      0,
    );
    expect(
      await metricValue(m.registry, "ros_rollback_health_check_duration_seconds", {
        check: "unit:a.service",
      }),
    ).toBe(0.25);
    expect(await metricValue(m.registry, "ros_rollback_health_last_round_timestamp_seconds")).toBe(2);
    onHealth(summary(1_000, [["unit:a.service", false]]));
    expect(await metricValue(m.registry, "ros_rollback_health_check_up", { check: "unit:a.service" })).toBe(
      1,
    );
    onHealth(summary(3_000, [["unit:a.service", true]]));
    expect(
      await metricValue(m.registry, "ros_rollback_health_check_up", { check: "topic:/chatter" }),
    ).toBeUndefined();
    expect(await metricValue(m.registry, "ros_rollback_health_healthy")).toBe(1);
  });
});
