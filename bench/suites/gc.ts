// Garbage collection (issue 28) on one lab robot: deploys of distinct ~150 MiB systems with the
// agent's collection off, then `ros-rollback gc` of the old generations (time, bytes), then the same
// deploys back to back with collection on (each deploy's collection of the generation before).
import { AGENT_CONFIG } from "../../integration-tests/lab/config.js";
import { type LabRobot, labExec, waitForAgent } from "../../integration-tests/lab/index.js";
import { type Stat, stat, statTable } from "../report.js";
import { buildPayloadSystem } from "../system-closure.js";
import { timedCli } from "./cli.js";

export interface GcBenchOptions {
  readonly robot: LabRobot;
  /** Deploys measured with and without collection. */
  readonly runs: number;
  /** Old generations the manual collection deletes. */
  readonly generations: number;
  readonly paths: number;
  readonly bytesPerPath: number;
  readonly healthFile: string;
  readonly log: (line: string) => void;
}

export interface GcBenchResult {
  readonly systemMiB: number;
  /** Collections the agent logged after a deploy (the "on" runs, or the one still running when the next came). */
  readonly collectedAfterDeploys: number;
  readonly deploySeconds: Record<string, Stat>;
  readonly collect: {
    readonly seconds: number;
    readonly agentMs: number;
    readonly generations: number;
    readonly deletedPaths: number;
    readonly freedBytes: number;
    /** Free on the robot's store after it (the lab robot's store is the host's filesystem). */
    readonly storeFreeBytes: number | null;
  };
}

interface GcJson {
  readonly removed: readonly unknown[];
  readonly deletedPaths: number;
  readonly freedBytes: number;
  readonly durationMs: number;
  readonly space: { readonly storeFreeBytes: number } | null;
}

/** Rewrites the agent's gc settings and restarts it (the unit reads its config at start). */
async function setGc(robot: LabRobot, gc: Record<string, unknown>): Promise<void> {
  const read = await labExec(robot.name, ["cat", AGENT_CONFIG]);
  const config = { ...(JSON.parse(read.stdout) as Record<string, unknown>), gc };
  const b64 = Buffer.from(JSON.stringify(config)).toString("base64");
  const w = await labExec(robot.name, ["sh", "-c", `echo ${b64} | base64 -d > ${AGENT_CONFIG}`]);
  if (w.code !== 0) throw new Error(`cannot write ${AGENT_CONFIG}: ${w.stderr.trim()}`);
  const r = await labExec(robot.name, ["systemctl", "restart", "ros-rollback-agent"], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`cannot restart the agent: ${r.stderr.trim()}`);
  await waitForAgent(robot.name, { timeoutMs: 60_000 });
}

export async function gcSuite(o: GcBenchOptions): Promise<GcBenchResult> {
  const seed = Date.now().toString(36);
  let n = 0;
  const deploy = async (): Promise<number> => {
    n++;
    const sys = await buildPayloadSystem({
      seed: `${seed}-${n}`,
      variant: "v",
      paths: o.paths,
      bytesPerPath: o.bytesPerPath,
    });
    const run = await timedCli(o.robot, [
      "deploy",
      sys.toplevel,
      "--sign-key",
      o.robot.signingKey,
      "--health",
      o.healthFile,
    ]);
    if (run.code !== 0 || run.json.outcome !== "succeeded")
      throw new Error(`deploy ${n} exited ${run.code} (${run.json.outcome})`);
    const s = (run.endMs - run.startMs) / 1000;
    o.log(`gc: deploy ${n}: ${s.toFixed(1)} s`);
    return s;
  };
  // Keep 1: the manual collection then deletes every generation but the current and previous.
  await setGc(o.robot, { enabled: false, keepGenerations: 1 });
  const off: number[] = [];
  // + the booted generation and the previous one, both kept.
  const before = Math.max(o.generations, o.runs) + 2;
  for (let i = 0; i < before; i++) {
    const s = await deploy();
    if (i >= before - o.runs) off.push(s);
  }
  const t0 = Date.now();
  const gc = await timedCli(o.robot, ["gc"], 1_800_000);
  const seconds = (Date.now() - t0) / 1000;
  const g = gc.json as unknown as GcJson;
  o.log(`gc: collected ${g.removed.length} generation(s), ${g.freedBytes} bytes in ${seconds.toFixed(1)} s`);
  await setGc(o.robot, { enabled: true, keepGenerations: 1 });
  const on: number[] = [];
  for (let i = 0; i < o.runs; i++) on.push(await deploy());
  // The collections the agent ran after those deploys (its log), so "on" is known to have collected.
  const journal = await labExec(o.robot.name, ["journalctl", "-u", "ros-rollback-agent", "-o", "cat"], {
    timeoutMs: 30_000,
  });
  const collectedAfterDeploys = journal.stdout
    .split("\n")
    .filter((l) => l.includes("bytes freed") && l.includes("garbage collection:")).length;
  o.log(`gc: the agent logged ${collectedAfterDeploys} collection(s) after deploys`);
  return {
    systemMiB: (o.paths * o.bytesPerPath) / 2 ** 20,
    collectedAfterDeploys,
    deploySeconds: {
      "deploy, collection off": stat(off),
      "deploy, collection on (after each, back to back)": stat(on),
    },
    collect: {
      seconds,
      agentMs: g.durationMs,
      generations: g.removed.length,
      deletedPaths: g.deletedPaths,
      freedBytes: g.freedBytes,
      storeFreeBytes: g.space?.storeFreeBytes ?? null,
    },
  };
}

export function gcTables(r: GcBenchResult): string {
  const c = r.collect;
  return [
    `### Deploys of distinct ${r.systemMiB.toFixed(0)} MiB systems`,
    "",
    statTable(r.deploySeconds),
    "",
    `The agent logged ${r.collectedAfterDeploys} collection(s) after the deploys with collection on.`,
    "",
    `### ros-rollback gc of ${c.generations} old generations`,
    "",
    "| measure | value |",
    "| --- | --- |",
    `| CLI wall time | ${c.seconds.toFixed(1)} s |`,
    `| agent's collection (durationMs) | ${(c.agentMs / 1000).toFixed(1)} s |`,
    `| store paths deleted | ${c.deletedPaths} |`,
    `| bytes freed (Nix) | ${(c.freedBytes / 2 ** 20).toFixed(0)} MiB |`,
  ].join("\n");
}
