// The fleet side of the controller CLI, run for real against lab robots, and what the scenarios
// read back from each robot. The command line of a rollout is built here only.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GetStatusResponse } from "@ros-rollback/proto";
import { type LabRobot, labExec } from "../lab/index.js";
import { getStatus } from "./agent.js";
import { agentClient, type CliRun } from "./controller.js";

const CLI = fileURLToPath(new URL("../../controller/dist/bundle/cli.js", import.meta.url));

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

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  /** stderr so far (progress lines: the rollout's id among them). */
  stderr(): string;
  done: Promise<CliRun>;
}

/** Starts the real controller CLI; `done` resolves with its exit code (-1 and the signal's name when killed). */
export function startCli(args: readonly string[], timeoutMs: number): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], { timeout: timeoutMs, killSignal: "SIGKILL" });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      let json: unknown;
      if (args.includes("--json")) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({
        code: code ?? -1,
        stdout,
        stderr: signal ? `${stderr}\n(killed by ${signal})` : stderr,
        json,
      });
    });
  });
  return { child, stderr: () => stderr, done };
}

export const runCli = (args: readonly string[], timeoutMs: number): Promise<CliRun> =>
  startCli(args, timeoutMs).done;

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
