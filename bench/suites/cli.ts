// The real controller CLI against a lab robot, with the wall-clock arrival of each stderr line
// (the controller's view of the deployment) and the agent's events from --json.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LabRobot } from "../../integration-tests/lab/index.js";

const CLI = fileURLToPath(new URL("../../controller/dist/bundle/cli.js", import.meta.url));

export interface AgentEventJson {
  readonly state: string;
  /** ISO 8601, the agent's clock (the lab robot shares the host's). */
  readonly time: string;
  readonly confirmDeadline: string | null;
}

export interface DeployJson {
  readonly outcome: string;
  readonly push: {
    readonly pathsMissing: number;
    readonly narBytes: number;
    readonly wireBytes: number;
    readonly seconds: number;
    readonly compression: string;
  } | null;
  readonly events: readonly AgentEventJson[];
}

export interface TimedCli {
  readonly code: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly lines: readonly { readonly atMs: number; readonly line: string }[];
  readonly json: DeployJson;
}

export function timedCli(robot: LabRobot, args: readonly string[], timeoutMs = 300_000): Promise<TimedCli> {
  return new Promise((resolve, reject) => {
    const startMs = Date.now();
    const child = spawn(
      process.execPath,
      [CLI, ...args, "--json", "--inventory", robot.inventory, "--target", robot.target],
      { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, killSignal: "SIGKILL" },
    );
    const lines: { atMs: number; line: string }[] = [];
    let partial = "";
    let stdout = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      const atMs = Date.now();
      const parts = (partial + d).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) lines.push({ atMs, line });
    });
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const endMs = Date.now();
      if (code === null) {
        reject(new Error(`ros-rollback ${args[0] ?? ""} killed after ${timeoutMs} ms`));
        return;
      }
      try {
        resolve({ code, startMs, endMs, lines, json: JSON.parse(stdout) as DeployJson });
      } catch {
        const tail = lines.slice(-3).map((l) => l.line.slice(0, 300));
        reject(new Error(`ros-rollback ${args[0] ?? ""} exited ${code} without JSON: ${tail.join(" | ")}`));
      }
    });
  });
}

/** The agent's time of the first event in `state`. */
export function eventMs(json: DeployJson, state: string): number {
  const e = json.events.find((x) => x.state === state);
  if (e === undefined)
    throw new Error(`no ${state} event (saw ${json.events.map((x) => x.state).join(", ")})`);
  return Date.parse(e.time);
}

/** When the controller printed the first line matching `re`. */
export function lineMs(run: TimedCli, re: RegExp): number {
  const l = run.lines.find((x) => re.test(x.line));
  if (l === undefined) throw new Error(`the controller printed no line matching ${re}`);
  return l.atMs;
}
