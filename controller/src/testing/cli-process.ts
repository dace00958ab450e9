// The `ros-rollback` command run as a process (built or bundled) by tests: its output as it comes,
// and its end. Every test that starts the CLI starts it here.
import { spawn } from "node:child_process";

export interface CliEnd {
  /** null when killed by a signal (kill(), or killAfterMs). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliProcess {
  /** SIGKILL: no goodbye to the agent. */
  kill(): void;
  /** Its output so far (the progress lines it follows a deployment by are on stderr). */
  stdout(): string;
  stderr(): string;
  readonly done: Promise<CliEnd>;
}

export interface CliProcessOptions {
  /** Killed (SIGKILL) if still running after this. */
  readonly killAfterMs: number;
  /** The whole environment of the process (default: this one's). */
  readonly env?: NodeJS.ProcessEnv;
  readonly nodeArgs?: readonly string[];
  /** Sees each whole line of stderr as it comes. */
  readonly onStderrLine?: (line: string) => void;
}

/** Starts `node script ...args`. */
export function spawnCli(script: string, args: readonly string[], o: CliProcessOptions): CliProcess {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(o.env ? { env: o.env } : {}),
  });
  let stdout = "";
  let stderr = "";
  let partial = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    if (o.onStderrLine === undefined) return;
    partial += d;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) o.onStderrLine(l);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), o.killAfterMs);
  const done = new Promise<CliEnd>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { kill: () => child.kill("SIGKILL"), stdout: () => stdout, stderr: () => stderr, done };
}
