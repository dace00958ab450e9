// Redeploy with 1 changed path of N: a payload system deployed once, then per run a variant that
// differs in one payload path (+ the toplevel). Per run, in a rotated order: the transfer alone
// (push, pipe, nix-copy; the robot forgets the missing paths after each), then the full
// `ros-rollback deploy`.
import type { AgentClient } from "@ros-rollback/proto";
import { computeClosure, signPaths } from "../../controller/src/closure/index.js";
import type { LabRobot } from "../../integration-tests/lab/index.js";
import { directTarget } from "../links/index.js";
import { forget } from "../measure.js";
import { type Stat, stat, statTable } from "../report.js";
import { buildPayloadSystem, closureDiff, type PayloadSystem } from "../system-closure.js";
import { eventMs, type TimedCli, timedCli } from "./cli.js";
import { TRANSFERS, transfer } from "./redeploy-transfer.js";

export interface RedeployOptions {
  readonly robot: LabRobot;
  readonly client: AgentClient;
  readonly runs: number;
  readonly paths: number;
  readonly bytesPerPath: number;
  /** The --health file (JSON) every deploy gets: the shortest windows the lab allows. */
  readonly healthFile: string;
  readonly log: (line: string) => void;
}

export interface RedeployResult {
  readonly closure: { paths: number; bytesPerPath: number; firstDeploySeconds: number };
  readonly seconds: Record<string, Stat>;
  readonly bytes: Record<string, Stat>;
  readonly missingPaths: number;
}

async function deploy(o: RedeployOptions, sys: PayloadSystem): Promise<TimedCli> {
  const run = await timedCli(o.robot, [
    "deploy",
    sys.toplevel,
    "--sign-key",
    o.robot.signingKey,
    "--health",
    o.healthFile,
  ]);
  if (run.code !== 0 || run.json.outcome !== "succeeded") {
    throw new Error(`deploy exited ${run.code} (${run.json.outcome})`);
  }
  return run;
}

/** The deploy's phases from the agent's events (its clock is the host's). */
function phases(run: TimedCli): Record<string, number> {
  const pending = eventMs(run.json, "PENDING");
  const activated = eventMs(run.json, "ACTIVATED");
  const awaiting = eventMs(run.json, "AWAITING_CONFIRMATION");
  const total = (run.endMs - run.startMs) / 1000;
  const push = run.json.push?.seconds ?? 0;
  const sw = (activated - pending) / 1000;
  const health = (awaiting - activated) / 1000;
  return {
    "deploy (CLI, total)": total,
    "  start → PENDING (closure, query, push)": (pending - run.startMs) / 1000,
    "  push (CLI's report)": push,
    "  switch (PENDING → ACTIVATED)": sw,
    "  health (ACTIVATED → AWAITING_CONFIRMATION)": health,
    "  confirm and exit": (run.endMs - awaiting) / 1000,
    "  overhead (total − push − switch − health)": total - push - sw - health,
  };
}

export async function redeploySuite(o: RedeployOptions): Promise<RedeployResult> {
  const seed = Date.now().toString(36);
  const spec = { seed, paths: o.paths, bytesPerPath: o.bytesPerPath };
  let prev = await buildPayloadSystem({ ...spec, variant: "v0" });
  const first = await deploy(o, prev);
  const firstDeploySeconds = (first.endMs - first.startMs) / 1000;
  o.log(`redeploy: first deploy of ${prev.closure.length} paths ${firstDeploySeconds.toFixed(1)} s`);
  const secs: Record<string, number[]> = {};
  const bytes: Record<string, number[]> = {};
  const add = (m: Record<string, number[]>, k: string, v: number) => {
    m[k] = [...(m[k] ?? []), v];
  };
  let missingPaths = 0;
  for (let r = 1; r <= o.runs; r++) {
    const next = await buildPayloadSystem({ ...spec, variant: `v${r}` });
    const missing = closureDiff(prev.closure, next.closure);
    missingPaths = missing.length;
    const closure = await signPaths(
      await computeClosure(next.toplevel, AbortSignal.timeout(120_000)),
      o.robot.signingKey,
      AbortSignal.timeout(120_000),
    );
    const ctx = {
      client: o.client,
      target: directTarget(o.robot),
      toplevel: next.toplevel,
      closure,
      missing,
    };
    for (let k = 0; k < TRANSFERS.length; k++) {
      const v = TRANSFERS[(k + r) % TRANSFERS.length] ?? "push";
      const t = await transfer(v, ctx);
      if (t.paths !== missing.length) throw new Error(`${v} moved ${t.paths} paths, not ${missing.length}`);
      add(secs, `transfer: ${v}`, t.seconds);
      if (t.bytes !== undefined) add(bytes, `transfer: ${v}`, t.bytes);
      await forget(o.robot.name, [...missing].reverse());
    }
    const run = await deploy(o, next);
    for (const [k, v] of Object.entries(phases(run))) add(secs, k, v);
    add(bytes, "deploy: wire", run.json.push?.wireBytes ?? Number.NaN);
    add(bytes, "deploy: NAR", run.json.push?.narBytes ?? Number.NaN);
    o.log(
      `redeploy run ${r}/${o.runs}: deploy ${((run.endMs - run.startMs) / 1000).toFixed(2)} s, ${run.json.push?.pathsMissing} paths missing, ${run.json.push?.wireBytes} B on the wire`,
    );
    prev = next;
  }
  const statAll = (m: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, stat(v)]));
  return {
    closure: { paths: prev.closure.length, bytesPerPath: o.bytesPerPath, firstDeploySeconds },
    seconds: statAll(secs),
    bytes: statAll(bytes),
    missingPaths,
  };
}

export function redeployTables(r: RedeployResult): string {
  return [
    `### Redeploy: 1 changed path of ${r.closure.paths} (${r.missingPaths} missing incl. the toplevel)`,
    "",
    statTable(r.seconds),
    "",
    statTable(
      Object.fromEntries(
        Object.entries(r.bytes).map(([k, s]) => [k, stat(s.runs.map((b) => b / 1024))] as const),
      ),
      "KiB",
      1,
    ),
  ].join("\n");
}
