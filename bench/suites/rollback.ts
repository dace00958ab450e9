// Rollback timings on a lab robot running `talker`:
// - failed switch (`crashing-talker`: its switch exits 4) through our CLI: from the agent's
//   UNITS_FAILED to (a) talker's units running again in the robot, (b) ROLLED_BACK (the agent's
//   event, the line the controller printed, the CLI's exit);
// - magic rollback (`talker-header`, activated over raw gRPC and never confirmed): from the confirm
//   deadline to (a) talker running again, (b) NOT_CONFIRMED and ROLLED_BACK as the client saw them.
import {
  ActivationAction,
  type AgentClient,
  type DeploymentEvent,
  DeploymentState,
} from "@ros-rollback/proto";
import { type LabRobot, labExec } from "../../integration-tests/lab/index.js";
import { options } from "../../integration-tests/support/agent.js";
import { type Stat, stat, statTable } from "../report.js";
import { eventMs, lineMs, timedCli } from "./cli.js";
import { previousSystemBack } from "./watch.js";

export interface RollbackOptions {
  readonly robot: LabRobot;
  readonly client: AgentClient;
  readonly runs: number;
  /** name → store path of the lab's fixture systems. */
  readonly systems: Readonly<Record<string, string>>;
  readonly healthFile: string;
  readonly healthJson: string;
  readonly confirmTimeoutSeconds: number;
  readonly log: (line: string) => void;
}

export interface RollbackResult {
  readonly failedSwitch: Record<string, Stat>;
  /** Per run, the event that reported the failure. */
  readonly failedBy: readonly string[];
  readonly magic: Record<string, Stat>;
}

const sys = (o: RollbackOptions, name: string): string => {
  const p = o.systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};

async function cli(o: RollbackOptions, args: string[]) {
  const run = await timedCli(o.robot, [...args, "--sign-key", o.robot.signingKey]);
  return run;
}

/** The robot on `talker` (not timed). */
async function ensureTalker(o: RollbackOptions): Promise<void> {
  const cur = (await labExec(o.robot.name, ["readlink", "/run/current-system"])).stdout.trim();
  if (cur === sys(o, "talker")) return;
  const run = await cli(o, ["deploy", sys(o, "talker"), "--no-confirm", "--health", o.healthFile]);
  if (run.code !== 0) throw new Error(`deploy talker exited ${run.code}`);
}

/** Runs `act` while watching the robot for talker's return; the watch's time, and act's result. */
async function watched<T>(o: RollbackOptions, act: () => Promise<T>): Promise<[number, T]> {
  const stop = new AbortController();
  const back = previousSystemBack(o.robot.name, sys(o, "talker"), stop.signal);
  await new Promise((r) => setTimeout(r, 500)); // the watch's shell is up before the switch
  try {
    const result = await act();
    return [await back, result];
  } catch (e) {
    stop.abort();
    await back.catch(() => undefined);
    throw e;
  }
}

const FAILURES = ["UNITS_FAILED", "ACTIVATION_FAILED", "UNHEALTHY"];

async function failedSwitch(o: RollbackOptions, failedBy: string[]): Promise<Record<string, number>> {
  await ensureTalker(o);
  // Not rolled back: thrown inside the watch, which then stops instead of waiting for a return.
  const [backMs, run] = await watched(o, async () => {
    const r = await cli(o, ["deploy", sys(o, "crashing-talker"), "--health", o.healthFile]);
    if (r.code !== 2) throw new Error(`deploy crashing-talker exited ${r.code}, not 2 (rolled back)`);
    return r;
  });
  // The switch's own settle usually sees the talker crash (UNITS_FAILED); when the talker starts
  // slowly (a loaded host) it crashes after the switch and the health check finds it (UNHEALTHY).
  const failure = run.json.events.find((e) => FAILURES.includes(e.state));
  if (failure === undefined) throw new Error(`no failure event: ${run.json.events.map((e) => e.state)}`);
  failedBy.push(failure.state);
  const failed = Date.parse(failure.time);
  const s = (ms: number) => (ms - failed) / 1000;
  return {
    "failed switch → talker running again (robot)": s(backMs),
    "failed switch → ROLLED_BACK (agent event)": s(eventMs(run.json, "ROLLED_BACK")),
    "failed switch → ROLLED_BACK printed (controller)": s(lineMs(run, /\bROLLED_BACK\b/)),
    "failed switch → CLI exit": s(run.endMs),
    "deploy start → failure seen (switch, settle, health)": (failed - run.startMs) / 1000,
  };
}

/** Activates over raw gRPC and never confirms; every event with the time this client got it. */
function unconfirmed(o: RollbackOptions): Promise<{ event: DeploymentEvent; atMs: number }[]> {
  return new Promise((resolve, reject) => {
    const seen: { event: DeploymentEvent; atMs: number }[] = [];
    const call = o.client.activate({
      storePath: sys(o, "talker-header"),
      action: ActivationAction.ACTIVATION_ACTION_SWITCH,
      options: options({ confirmTimeoutSeconds: o.confirmTimeoutSeconds, healthJson: o.healthJson }),
      overrideHolds: [],
    });
    call.on("data", (event: DeploymentEvent) => {
      seen.push({ event, atMs: Date.now() });
      if (event.final) resolve(seen);
    });
    call.on("error", reject);
    call.on("end", () => resolve(seen));
  });
}

async function magic(o: RollbackOptions): Promise<Record<string, number>> {
  await ensureTalker(o);
  const [backMs, events] = await watched(o, async () => {
    const seen = await unconfirmed(o);
    const last = seen.at(-1)?.event;
    if (last?.state !== DeploymentState.DEPLOYMENT_STATE_ROLLED_BACK) {
      throw new Error(`unconfirmed talker-header ended in ${last ? DeploymentState[last.state] : "nothing"}`);
    }
    return seen;
  });
  const at = (state: DeploymentState) => {
    const e = events.find((x) => x.event.state === state);
    if (e === undefined) {
      throw new Error(`no ${DeploymentState[state]}: ${events.map((x) => DeploymentState[x.event.state])}`);
    }
    return e;
  };
  const deadline = at(DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION).event.confirmDeadlineUnixMs;
  const s = (ms: number) => (ms - deadline) / 1000;
  const rolled = at(DeploymentState.DEPLOYMENT_STATE_ROLLED_BACK);
  return {
    "confirm deadline → NOT_CONFIRMED (agent event)": s(
      at(DeploymentState.DEPLOYMENT_STATE_NOT_CONFIRMED).event.timestampUnixMs,
    ),
    "confirm deadline → talker running again (robot)": s(backMs),
    "confirm deadline → ROLLED_BACK (agent event)": s(rolled.event.timestampUnixMs),
    "confirm deadline → ROLLED_BACK received (client)": s(rolled.atMs),
  };
}

export async function rollbackSuite(o: RollbackOptions): Promise<RollbackResult> {
  // Push the fixtures once (dry-activate), so the timed runs measure no transfer.
  for (const name of ["talker", "crashing-talker", "talker-header"]) {
    const run = await cli(o, ["deploy", sys(o, name), "--action", "dry-activate"]);
    if (run.code !== 0) throw new Error(`dry-activate ${name} exited ${run.code}`);
  }
  const collect = async (what: string, one: () => Promise<Record<string, number>>) => {
    const all: Record<string, number[]> = {};
    for (let r = 0; r < o.runs; r++) {
      const m = await one();
      for (const [k, v] of Object.entries(m)) all[k] = [...(all[k] ?? []), v];
      o.log(
        `${what} run ${r + 1}/${o.runs}: ${Object.values(m)
          .map((v) => v.toFixed(2))
          .join(" / ")} s`,
      );
    }
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, stat(v)]));
  };
  const failedBy: string[] = [];
  return {
    failedBy,
    failedSwitch: await collect("failed switch", () => failedSwitch(o, failedBy)),
    magic: await collect("magic rollback", () => magic(o)),
  };
}

export function rollbackTables(r: RollbackResult): string {
  return [
    `### Rollback after a failed switch (crashing-talker over talker, our CLI; failure seen as ${r.failedBy.join(", ")})`,
    "",
    statTable(r.failedSwitch),
    "",
    "### Magic rollback (talker-header over talker, never confirmed)",
    "",
    statTable(r.magic),
  ].join("\n");
}
