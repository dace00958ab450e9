// The fleet side of the controller CLI, run for real against lab robots, and what the scenarios
// read back from each robot. The command line of a rollout is built here only.
import type { GetStatusResponse } from "@ros-rollback/proto";
import { type LabRobot, labExec } from "../lab/index.js";
import { getStatus } from "./agent.js";
import { agentClient, type CliRun, type RunningCli, startCli } from "./controller.js";

/** Which robots of the inventory a rollout is for. */
export type Selection = { all: true } | { targets: readonly string[] } | { select: string };

export function selectionArgs(s: Selection): string[] {
  if ("all" in s) return ["--all"];
  if ("targets" in s) return s.targets.flatMap((t) => ["--target", t]);
  return ["--select", s.select];
}

export interface Fleet {
  inventory: string;
  signingKey: string;
}

/** `deploy` of one closure to every selected robot: a rollout in waves. */
export function rolloutArgs(fleet: Fleet, storePath: string, selection: Selection, flags: readonly string[]) {
  return [
    "deploy",
    storePath,
    "--inventory",
    fleet.inventory,
    "--sign-key",
    fleet.signingKey,
    ...selectionArgs(selection),
    ...flags,
  ];
}

/** The CLI's end as the fleet scenarios read it: -1 and the signal's name in stderr when killed. */
export function startRollout(
  args: readonly string[],
  timeoutMs: number,
): Omit<RunningCli, "done"> & {
  done: Promise<CliRun>;
} {
  const p = startCli(args, timeoutMs);
  const done = p.done.then(({ code, signal, stdout, stderr, json }) => ({
    code: code ?? -1,
    stdout,
    stderr: signal ? `${stderr}\n(killed by ${signal})` : stderr,
    json: args.includes("--json") ? json : undefined,
  }));
  return { ...p, done };
}

export const runCli = (args: readonly string[], timeoutMs: number): Promise<CliRun> =>
  startRollout(args, timeoutMs).done;

/** What a scenario asserts about one robot: what it runs, its profile, and its last deployment. */
export interface RobotState {
  current: string;
  profile: string;
  /** Id of the last finished deployment ("" if none) — unchanged means the robot was not touched. */
  lastId: string;
  lastStartedMs: number;
  lastUpdatedMs: number;
  /** Whether a deployment is under way. */
  busy: boolean;
}

export async function robotState(robot: LabRobot): Promise<RobotState> {
  const read = async (argv: string[]) =>
    (await labExec(robot.name, argv, { timeoutMs: 20_000 })).stdout.trim();
  const client = agentClient(robot);
  let st: GetStatusResponse;
  try {
    st = await getStatus(client, 10_000);
  } finally {
    client.close();
  }
  return {
    current: await read(["readlink", "/run/current-system"]),
    profile: await read(["readlink", "-f", "/nix/var/nix/profiles/system"]),
    lastId: st.lastDeployment?.id ?? "",
    lastStartedMs: Number(st.lastDeployment?.startedAtUnixMs ?? 0),
    lastUpdatedMs: Number(st.lastDeployment?.updatedAtUnixMs ?? 0),
    busy: st.deployment !== undefined,
  };
}
