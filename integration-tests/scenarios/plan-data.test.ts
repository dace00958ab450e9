// Issue 25 on a lab robot: the plan names the data writer the snapshot interrupts (labdb.service,
// declared by the db-* systems), and what the plan says of each unit is what the deploy's report
// then says, for the data deployments, a rollback that restores data, and three pairs of the
// other fixture systems.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSystems, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { controller } from "../support/controller.js";

const NAME = "pr-data";
let robot: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};
const inRobot = (argv: string[]) => labExec(NAME, argv, { timeoutMs: 30_000 });
const signed = (...args: string[]) => [...args, "--sign-key", robot.signingKey, "--json"];

interface Units {
  stopped: string[];
  started: string[];
  restarted: string[];
  reloaded: string[];
}
interface Interruption {
  unit: string;
  paths: string[];
  lastStoppedMs: number | null;
  after: string;
}
interface PlanJson {
  units: Units;
  interrupted: Interruption[];
  unchanged: string[];
}
interface ReportJson {
  outcome: string;
  unitChanges: Units | null;
  rollbackUnitChanges: Units | null;
}

async function plan(to: string): Promise<PlanJson> {
  const run = await controller(robot, signed("plan", sys(to)), 180_000);
  expect(run.code, run.stderr).toBe(0);
  return run.json as PlanJson;
}

/** Plans `to`, deploys it, and checks the report lists every unit as the plan did. */
async function planAndDeploy(to: string): Promise<{ plan: PlanJson; report: ReportJson; stderr: string }> {
  const p = await plan(to);
  const run = await controller(robot, signed("deploy", sys(to), "--no-confirm"), 180_000);
  expect(run.code, run.stderr).toBe(0);
  const report = run.json as ReportJson;
  expect(report.unitChanges, `${to}: the report against the plan`).toEqual(p.units);
  return { plan: p, report, stderr: run.stderr };
}

const labdb = { unit: "labdb.service", paths: ["/var/lib/labdb"], after: "restarted" };

describe("the plan and the report around data snapshots", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    const first = await controller(robot, signed("deploy", sys("talker"), "--no-confirm"), 180_000);
    expect(first.code, first.stderr).toBe(0);
  }, 600_000);
  afterAll(() => labDown(NAME), 60_000);

  it("a writer that is not running yet is not interrupted: the switch starts it", async () => {
    const { plan: p } = await planAndDeploy("db-v1");
    expect(p.interrupted).toEqual([]);
    expect(p.units.started).toContain("labdb.service");
  }, 400_000);

  it("plan names the running writer as stopped for the snapshot; the deploy reports it restarted", async () => {
    const text = await controller(robot, ["plan", sys("db-v2"), "--sign-key", robot.signingKey], 180_000);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("stopped for the data snapshot, before the switch:");
    expect(text.stdout).toContain("labdb.service for /var/lib/labdb, then restarted");

    const { plan: p, report, stderr } = await planAndDeploy("db-v2");
    expect(p.interrupted).toEqual([{ ...labdb, lastStoppedMs: null }]);
    expect(report.unitChanges?.restarted).toContain("labdb.service");
    expect(report.unitChanges?.started).not.toContain("labdb.service");
    expect(stderr).toMatch(/SNAPSHOTTING/);
    expect(stderr).toMatch(/MIGRATING/);

    // The next plan knows how long it was stopped.
    const back = await planAndDeploy("db-v1");
    expect(back.plan.interrupted).toEqual([{ ...labdb, lastStoppedMs: expect.any(Number) }]);
    expect(back.plan.interrupted[0]?.lastStoppedMs).toBeGreaterThan(0);
  }, 600_000);

  it("a rollback that restores the data reports the writer restarted", async () => {
    await inRobot(["sh", "-c", "echo 1 > /var/lib/labdb/schema"]);
    const run = await controller(robot, signed("deploy", sys("db-v2-broken"), "--no-confirm"), 180_000);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/RESTORING/);
    const report = run.json as ReportJson;
    expect(report.unitChanges?.restarted).toContain("labdb.service");
    expect(report.rollbackUnitChanges?.restarted).toContain("labdb.service");
    expect(report.rollbackUnitChanges?.started).not.toContain("labdb.service");
  }, 400_000);

  it("plan and report agree unit by unit for three pairs of the other fixture systems", async () => {
    const dropped = await planAndDeploy("talker");
    expect(dropped.plan.units.stopped).toEqual(["labdb.service"]);
    const header = await planAndDeploy("talker-header");
    expect(header.plan.units.restarted).toEqual(["listener.service", "talker.service"]);
    const big = await planAndDeploy("big-talker");
    expect(big.plan.units.started).toEqual(["payload.service"]);
    expect(big.plan.interrupted).toEqual([]);
  }, 600_000);
});
