import { spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** A failure meant for a person: one line, no stack needed. `cause` keeps what went wrong below. */
export class LabError extends Error {
  override name = "LabError";
}

export interface RunOptions {
  /** Written to the child's stdin, which is closed after; a stream is piped as it arrives. */
  input?: string | Buffer | Readable;
  /** Forward the child's output here as it arrives instead of collecting it (stdout/stderr in the result stay empty). */
  output?: { stdout: Writable; stderr: Writable };
  /** Kill the child (its whole process group) after this long. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Throw a LabError on a non-zero exit. Default true. */
  check?: boolean;
  /** Sees every chunk of stdout and stderr as it arrives (for build logs). */
  onOutput?: (chunk: Buffer) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

const lastLine = (text: string): string => text.trim().split("\n").at(-1) ?? "";

/**
 * Runs a command to completion in its own process group, so that a timeout or an abort kills
 * everything it started (debootstrap, apt, nix-build…).
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const what = `${cmd} ${args.slice(0, 3).join(" ")}${args.length > 3 ? " …" : ""}`;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new LabError(`${what}: aborted`, { cause: opts.signal.reason }));
      return;
    }
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (stream: Readable, into: Buffer[], to: Writable | undefined): void => {
      if (to !== undefined) {
        // Not pipe(): it would end our process.stdout with the child's.
        stream.on("data", (b: Buffer) => {
          if (!to.write(b)) {
            stream.pause();
            to.once("drain", () => stream.resume());
          }
        });
        return;
      }
      stream.on("data", (b: Buffer) => {
        into.push(b);
        opts.onOutput?.(b);
      });
    };
    collect(child.stdout, out, opts.output?.stdout);
    collect(child.stderr, err, opts.output?.stderr);
    let stopped: string | undefined;
    const kill = (why: string): void => {
      stopped ??= why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => kill(`timed out after ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    const onAbort = (): void => kill("aborted");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (e) => {
      finish();
      reject(new LabError(`${what}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, sig) => {
      finish();
      const stdoutBytes = Buffer.concat(out);
      const result = {
        code: code ?? 128,
        stdout: stdoutBytes.toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (stopped !== undefined) {
        reject(new LabError(`${what}: ${stopped}`));
      } else if ((opts.check ?? true) && result.code !== 0) {
        const detail = lastLine(result.stderr) || lastLine(result.stdout);
        reject(new LabError(`${what} failed (${sig ?? `exit ${result.code}`}): ${detail}`));
      } else {
        resolve({ ...result, stdoutBytes });
      }
    });
    child.stdin.on("error", () => {
      // the child may exit without reading its input
    });
    const input = opts.input;
    if (input === undefined || typeof input === "string" || Buffer.isBuffer(input)) child.stdin.end(input);
    // Streamed with backpressure: nothing is read ahead of what the child takes.
    else pipeline(input, child.stdin).catch(() => undefined); // the exit status tells
  });
}

/** Sleeps, or rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new LabError("aborted", { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new LabError("aborted", { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function poll<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      throw new LabError(`${what}: not ready after ${Math.round(opts.timeoutMs / 1000)} s`);
    }
    await sleep(opts.intervalMs ?? 250, opts.signal);
  }
}
