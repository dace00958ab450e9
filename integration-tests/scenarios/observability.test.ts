// Observability end to end: a real Prometheus (Debian's, on loopback, temp storage, 1 s scrapes,
// the repo's alert rules) scrapes the agent of a lab robot while the real controller deploys; the
// agent's journal entries carry structured fields; the unit is Type=notify with a watchdog.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSystems, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { controller } from "../support/controller.js";

const NAME = "observe";
const RULES = fileURLToPath(new URL("../../observability/prometheus/alerts.yml", import.meta.url));
let robot: LabRobot;
let systems: Record<string, string>;
let prometheus: ChildProcess | undefined;
let promUrl = "";
let tmp = "";
const deploymentIds: Record<string, string> = {};

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startPrometheus(target: string): Promise<void> {
  tmp = mkdtempSync(join(tmpdir(), "rr-prometheus-"));
  const config = join(tmp, "prometheus.yml");
  writeFileSync(
    config,
    `${JSON.stringify({
      global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
      rule_files: [RULES],
      scrape_configs: [{ job_name: "ros-rollback-agent", static_configs: [{ targets: [target] }] }],
    })}\n`,
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  let log = "";
  const child = spawn(
    "prometheus",
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(tmp, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  prometheus = child;
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    log = (log + d).slice(-4000);
  });
  const end = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
    const ready = await fetch(`${promUrl}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    if (Date.now() > end) throw new Error(`prometheus not ready after 20 s: ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(q: string): Promise<Sample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { status: string; data: { result: Sample[] }; error?: string };
  if (body.status !== "success") throw new Error(`query ${q}: ${body.error}`);
  return body.data.result;
}

/** Polls an instant query until its single value is `want` (scrapes run every second). */
async function eventually(q: string, want: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let got: string[] = [];
  for (;;) {
    got = (await query(q)).map((s) => s.value[1]);
    if (got.length === 1 && Number(got[0]) === want) return;
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(got, `${q} should be ${want} within ${timeoutMs} ms`).toEqual([String(want)]);
}

function deploy(system: string) {
  return controller(robot, ["deploy", sys(system), "--sign-key", robot.signingKey, "--json"]);
}

type JournalEntry = Record<string, string>;

async function journal(): Promise<JournalEntry[]> {
  const r = await labExec(NAME, ["journalctl", "-u", "ros-rollback-agent", "-o", "json", "--no-pager"], {
    timeoutMs: 20_000,
  });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as JournalEntry);
}

describe("metrics scraped by Prometheus, journald fields and systemd notify on a lab robot", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    await startPrometheus(new URL(robot.metrics).host);
    await eventually('up{job="ros-rollback-agent"}', 1);
  });
  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus?.once("exit", r));
      prometheus.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (prometheus.exitCode === null) prometheus.kill("SIGKILL");
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    await labDown(NAME);
  });

  it("a confirmed deploy: generation 1, settled, counted as confirmed; /chatter's rate is scraped", async () => {
    const run = await deploy("talker");
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ outcome: "succeeded", generation: 1, confirmed: true });
    deploymentIds.talker = (run.json as { deploymentId: string }).deploymentId;
    // Counted by the transport the push took (raw when the agent offers it; grpc_server_* misses those).
    const transport = (run.json as { push: { transport: string } }).push.transport;
    await eventually(`ros_rollback_pushes_total{transport="${transport}",result="ok"}`, 1);
    await eventually("ros_rollback_generation", 1);
    await eventually("ros_rollback_generation_confirmed", 1);
    await eventually('ros_rollback_deployments_total{outcome="confirmed"}', 1);
    await eventually('ros_rollback_deployment_state{state="succeeded"}', 1);
    await eventually('ros_rollback_systemd_unit_active{unit="talker.service"}', 1);
    // The talker publishes at 10 Hz.
    await eventually('ros_rollback_ros_topic_rate_hertz{topic="/chatter"} > bool 5', 1);
    await eventually('ros_rollback_health_check_up{check="topic:/chatter"}', 1);
    await eventually(
      'grpc_server_handled_total{grpc_service="ros_rollback.v1.Agent",grpc_method="Confirm",grpc_code="OK"}',
      1,
    );
  });

  it("crashing-talker is rolled back (unhealthy, controller exits 2): Prometheus sees the rollback", async () => {
    const run = await deploy("crashing-talker");
    expect(run.code, run.stderr).toBe(2);
    expect(run.json).toMatchObject({ outcome: "rolled-back", rollbackReason: "unhealthy" });
    await eventually('ros_rollback_rollbacks_total{reason="unhealthy"}', 1);
    await eventually('ros_rollback_deployments_total{outcome="rolled_back"}', 1);
    await eventually('ros_rollback_deployments_total{outcome="confirmed"}', 1);
    await eventually("ros_rollback_generation", 1);
    await eventually("ros_rollback_generation_confirmed", 1);
    await eventually('ros_rollback_push_paths_refused_total{reason="untrusted"}', 0);
    // The repo's alert rule fires (no `for`: at the next evaluation).
    const end = Date.now() + 10_000;
    let alerts: { labels: Record<string, string>; state: string }[] = [];
    while (Date.now() < end) {
      const res = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
        data: { alerts: typeof alerts };
      };
      alerts = res.data.alerts.filter((a) => a.labels.alertname === "RosRollbackRollbackHappened");
      if (alerts.some((a) => a.state === "firing")) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(alerts).toContainEqual(
      expect.objectContaining({
        state: "firing",
        labels: expect.objectContaining({ reason: "unhealthy", severity: "warning" }),
      }),
    );
  });

  it("journald has the deployments' entries with structured fields, natively (not stdout text)", async () => {
    const entries = await journal();
    const confirmed = entries.find(
      (e) => e.DEPLOYMENT_ID === deploymentIds.talker && e.MESSAGE === "confirmed by the controller",
    );
    expect(confirmed).toMatchObject({
      _TRANSPORT: "journal",
      _SYSTEMD_UNIT: "ros-rollback-agent.service",
      SYSLOG_IDENTIFIER: "ros-rollback-agent",
      PRIORITY: "6",
      GENERATION: "1",
      STATE: "succeeded",
    });
    // No pino JSON text went through stdout.
    expect(entries.filter((e) => e._TRANSPORT === "stdout" && e.MESSAGE?.startsWith('{"level"'))).toEqual([]);
  });

  it("a silent talker fails its topic check: a CHECK warning in the journal, the check down in Prometheus", async () => {
    const run = await deploy("silent-talker");
    expect(run.code, run.stderr).toBe(2);
    const id = (run.json as { deploymentId: string }).deploymentId;
    const failed = (await journal()).find((e) => e.DEPLOYMENT_ID === id && e.CHECK === "topic:/chatter");
    expect(failed).toMatchObject({
      PRIORITY: "4",
      GENERATION: "2",
      SYSLOG_IDENTIFIER: "ros-rollback-agent",
      KIND: "topic",
    });
    expect(failed?.MESSAGE).toMatch(/^check topic:\/chatter failed: topic \/chatter silent/);
    await eventually('min_over_time(ros_rollback_health_check_up{check="topic:/chatter"}[2m])', 0);
    await eventually('ros_rollback_rollbacks_total{reason="unhealthy"}', 2);
  });

  it("runs as Type=notify: ready with a status, pinging the watchdog, and only it notifies", async () => {
    const r = await labExec(NAME, [
      "systemctl",
      "show",
      "ros-rollback-agent",
      "-p",
      "Type,WatchdogUSec,StatusText,NRestarts,Result",
    ]);
    expect(r.stdout).toContain("Type=notify");
    expect(r.stdout).toContain("WatchdogUSec=30s");
    expect(r.stdout).toMatch(
      /StatusText=listening on 0\.0\.0\.0:50051, metrics at http:\/\/10\.231\.\d+\.2:9464\/metrics/,
    );
    // Over a minute of deployments without a watchdog kill or any restart.
    expect(r.stdout).toContain("NRestarts=0");
    expect(r.stdout).toContain("Result=success");
    // The agent's children do not inherit NOTIFY_SOCKET: a failing systemctl (the switch unit's
    // clean-up) sends ERRNO= there, which NotifyAccess=all would take as the agent's.
    const foreign = (await journal()).filter((e) => e.MESSAGE?.includes("Got notification message from PID"));
    expect(foreign.map((e) => e.MESSAGE)).toEqual([]);
  });
});
