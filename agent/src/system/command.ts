import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { AgentError } from "../errors.js";

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Kill the command after this long; every external call is bounded. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  /** Open descriptors the command inherits as fd 3, 4, … (e.g. a file for flock(1) to lock). */
  readonly fds?: readonly number[];
}

/** Runs external programs; the one seam between the agent and nix/systemd CLIs. */
export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 4 * 1024 * 1024;

export class ProcessRunner implements CommandRunner {
  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error("empty argv");
    return new Promise((resolve, reject) => {
      // Pipes on 0-2 whatever follows them; the extra descriptors' type hides that.
      const child = spawn(file, args, {
        env: options.env ?? process.env,
        stdio: ["pipe", "pipe", "pipe", ...(options.fds ?? [])],
        signal: options.signal,
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        killSignal: "SIGKILL",
      }) as ChildProcessWithoutNullStreams;
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        if (stdout.length < MAX_OUTPUT) stdout += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        if (stderr.length < MAX_OUTPUT) stderr += d;
      });
      child.on("error", (cause: NodeJS.ErrnoException) => {
        if (cause.name === "AbortError") {
          reject(new AgentError("ABORTED", `${file} was aborted`, { cause }));
        } else {
          reject(
            new AgentError("EXTERNAL_COMMAND_FAILED", `cannot run ${file}: ${cause.message}`, { cause }),
          );
        }
      });
      child.on("close", (code, signal) => {
        if (code === null) {
          reject(
            new AgentError(
              signal === "SIGKILL" ? "TIMEOUT" : "EXTERNAL_COMMAND_FAILED",
              `${argv.join(" ")} was killed by ${signal}`,
            ),
          );
          return;
        }
        resolve({ code, stdout, stderr });
      });
      child.stdin.on("error", () => {
        // The command may exit without reading its input; its exit status tells what happened.
      });
      child.stdin.end(options.input ?? "");
    });
  }
}

/** Runs a command and insists on exit 0. */
export async function runChecked(
  runner: CommandRunner,
  argv: readonly string[],
  options?: RunOptions,
): Promise<string> {
  const r = await runner.run(argv, options);
  if (r.code !== 0) throw commandFailed(argv, r);
  return r.stdout;
}

/** The error for a command that exited non-zero: its last lines of output say why. */
export function commandFailed(argv: readonly string[], r: CommandResult): AgentError {
  const detail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join(" | ");
  return new AgentError("EXTERNAL_COMMAND_FAILED", `${argv.join(" ")} exited ${r.code}: ${detail}`);
}
