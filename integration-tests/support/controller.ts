import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ChannelOptions, credentials } from "@grpc/grpc-js";
import type { AgentClient, PushPathsRequest, PushPathsResponse } from "@ros-rollback/proto";
import { fastAgentClient } from "@ros-rollback/proto/clients";
import { type CliEnd, type CliProcess, spawnCli } from "../../controller/src/testing/cli-process.js";
import type { LabRobot } from "../lab/index.js";

const CLI = fileURLToPath(new URL("../../controller/dist/bundle/cli.js", import.meta.url));

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed, when the command was given --json. */
  readonly json: unknown;
}

/** A controller left running (kill() is SIGKILL: no goodbye to the agent); `done` adds stdout parsed. */
export interface RunningCli extends Omit<CliProcess, "done"> {
  readonly done: Promise<CliEnd & { readonly json: unknown }>;
}

/** Starts the real controller CLI (built) with `args`; `json` is stdout parsed, if it parses. */
export function startCli(args: readonly string[], timeoutMs: number): RunningCli {
  const p = spawnCli(CLI, args, { killAfterMs: timeoutMs });
  const done = p.done.then((end) => {
    let json: unknown;
    try {
      json = JSON.parse(end.stdout);
    } catch {
      json = undefined;
    }
    return { ...end, json };
  });
  return { ...p, done };
}

/** The same against a lab robot (its inventory and target). */
export function startController(robot: LabRobot, args: readonly string[], timeoutMs: number): RunningCli {
  return startCli([...args, "--inventory", robot.inventory, "--target", robot.target], timeoutMs);
}

/** Runs the real controller CLI (built) against a lab robot; killed (its timeout) is an error. */
export async function controller(
  robot: LabRobot,
  args: readonly string[],
  timeoutMs = 90_000,
): Promise<CliRun> {
  const { code, signal, stdout, stderr, json } = await startController(robot, args, timeoutMs).done;
  if (code === null) throw new Error(`controller ${args.join(" ")} killed by ${signal}\n${stderr}`);
  return { code, stdout, stderr, json: args.includes("--json") ? json : undefined };
}

/** A gRPC client for the robot's agent with the controller's certificate (or another). */
export function agentClient(
  robot: LabRobot,
  tls: { caFile: string; certFile: string; keyFile: string } = controllerTls(robot),
  channel: ChannelOptions = {},
): AgentClient {
  const creds = credentials.createSsl(
    readFileSync(tls.caFile),
    readFileSync(tls.keyFile),
    readFileSync(tls.certFile),
  );
  return new (fastAgentClient())(robot.address, creds, channel);
}

export function controllerTls(robot: LabRobot): { caFile: string; certFile: string; keyFile: string } {
  const inv = JSON.parse(readFileSync(robot.inventory, "utf8")) as {
    targets: Record<string, { caFile: string; certFile: string; keyFile: string }>;
  };
  const t = inv.targets[robot.target];
  if (t === undefined) throw new Error(`inventory has no target ${robot.target}`);
  return t;
}

/** Sends a PushPaths request stream (honouring backpressure); the agent's answer or its error. */
export function sendPush(
  client: AgentClient,
  requests: AsyncIterable<PushPathsRequest>,
): Promise<PushPathsResponse> {
  return new Promise((resolve, reject) => {
    const call = client.pushPaths((err, res) => (err ? reject(err) : resolve(res)));
    (async () => {
      for await (const r of requests) {
        if (!call.write(r)) await new Promise((ok) => call.once("drain", ok));
      }
      call.end();
    })().catch((e: unknown) => {
      call.cancel();
      reject(e);
    });
  });
}
