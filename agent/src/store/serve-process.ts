import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import {
  ByteReader,
  type NixCliOptions,
  nixBin,
  SERVE_CLIENT_VERSION,
  SERVE_MAGIC_1,
  SERVE_MAGIC_2,
  storeArgs,
  u64,
} from "@ros-rollback/nix-core";
import { AgentError } from "../errors.js";

export type { NixCliOptions };

export interface ServeProcessOptions extends NixCliOptions {
  /** `--write`: allow cmdAddToStoreNar, and make cmdQueryValidPaths' lock flag add temp GC roots. */
  readonly write: boolean;
  readonly signal: AbortSignal;
}

const STDERR_TAIL = 16 * 1024;
const KILL_AFTER_TERM_MS = 3_000;
const EXIT_WAIT_MS = 5_000;
const WRITE_AHEAD = 1024 * 1024;

/** One `nix-store --serve` process after the handshake. */
export class ServeProcess {
  readonly reader: ByteReader;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly argv: readonly string[];
  private stderrTail = "";
  private inputError: Error | undefined;
  private readonly onAbort: () => void;
  private readonly signal: AbortSignal;
  private version = 0;

  private constructor(child: ChildProcessWithoutNullStreams, argv: readonly string[], signal: AbortSignal) {
    this.child = child;
    this.argv = argv;
    this.signal = signal;
    this.reader = new ByteReader(child.stdout);
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-STDERR_TAIL);
    });
    // Without a listener an EPIPE after nix died would crash the agent.
    child.stdin.on("error", (e) => {
      this.inputError = e;
    });
    this.exited = new Promise((resolve) => {
      child.on("close", (code, sig) => resolve({ code, signal: sig }));
    });
    child.on("error", () => undefined); // only kill() failures get here; exit status tells the rest
    this.onAbort = () => this.terminate();
    signal.addEventListener("abort", this.onAbort, { once: true });
    if (signal.aborted) this.terminate(); // aborted while it was starting
    void this.exited.then(() => signal.removeEventListener("abort", this.onAbort));
  }

  static async start(options: ServeProcessOptions): Promise<ServeProcess> {
    options.signal.throwIfAborted();
    const bin = nixBin(options, "nix-store");
    const args = [...storeArgs(options), "--serve", ...(options.write ? ["--write"] : [])];
    const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
    try {
      await once(child, "spawn");
    } catch (cause) {
      throw new AgentError("EXTERNAL_COMMAND_FAILED", `cannot run ${bin}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const p = new ServeProcess(child, [bin, ...args], options.signal);
    try {
      await p.handshake();
    } catch (e) {
      p.terminate();
      await p.exited;
      throw p.failure("handshake", e);
    }
    return p;
  }

  private async handshake(): Promise<void> {
    await this.write(Buffer.concat([u64(SERVE_MAGIC_1), u64(SERVE_CLIENT_VERSION)]));
    const magic = await this.reader.u64("serve handshake");
    if (magic !== SERVE_MAGIC_2) throw new Error(`protocol mismatch (magic ${magic.toString(16)})`);
    const version = await this.reader.u64("serve handshake");
    if ((version & 0xff00) !== 0x200)
      throw new Error(`unsupported serve protocol version ${version.toString(16)}`);
    this.version = version;
  }

  /** The protocol version nix-store announced (0x2NN). */
  get serverVersion(): number {
    return this.version;
  }

  /**
   * Writes, waiting while the pipe is full (nix reads at the speed it imports). `written`: once
   * the pipe has taken `data` (its memory may be reused then); not called if the write failed.
   */
  async write(data: Uint8Array, written?: () => void): Promise<void> {
    if (this.inputError !== undefined) throw this.inputError;
    const cb = written === undefined ? undefined : (e?: Error | null) => (e == null ? written() : undefined);
    // Up to WRITE_AHEAD queued keeps nix busy while we wait for the next chunk, and bounds memory.
    if (this.child.stdin.write(data, cb) || this.child.stdin.writableLength < WRITE_AHEAD) return;
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error) => {
        this.child.stdin.off("drain", onDrain);
        this.child.stdin.off("close", onClose);
        this.signal.removeEventListener("abort", onClose);
        if (e === undefined) resolve();
        else reject(e);
      };
      const onDrain = () => done();
      const onClose = () => done(this.inputError ?? new Error(`${this.argv[0]} closed its input`));
      this.child.stdin.on("drain", onDrain);
      this.child.stdin.on("close", onClose);
      this.signal.addEventListener("abort", onClose);
    });
  }

  /** No more commands: nix finishes what it read and exits. */
  endInput(): void {
    if (!this.child.stdin.writableEnded) this.child.stdin.end();
  }

  /** SIGTERM lets nix unwind (it deletes a half-restored path); SIGKILL if it does not. */
  terminate(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), KILL_AFTER_TERM_MS);
    t.unref();
    void this.exited.then(() => clearTimeout(t));
  }

  /** Ends the input and waits up to `graceMs` for nix to exit by itself, then terminates it. */
  async stop(graceMs: number): Promise<void> {
    this.endInput();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    this.terminate();
    await this.exited;
  }

  /** What nix said on stderr, for error messages. */
  stderr(): string {
    return this.stderrTail.trim();
  }

  /** Like failure(), after giving nix a moment to exit so its status and stderr are complete. */
  async failed(doing: string, cause?: unknown): Promise<AgentError> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, EXIT_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    return this.failure(doing, cause);
  }

  /** An AgentError for a failure while `doing`, with nix's exit status and last stderr lines. */
  failure(doing: string, cause?: unknown): AgentError {
    if (this.signal.aborted) return new AgentError("ABORTED", `${doing} aborted`, { cause });
    const code = this.child.exitCode;
    const status = code !== null ? `exit ${code}` : (this.child.signalCode ?? "still running");
    const said = this.stderr().split("\n").slice(-6).join("\n") || (cause as Error | undefined)?.message;
    return new AgentError(
      "EXTERNAL_COMMAND_FAILED",
      `${this.argv.join(" ")} failed ${doing} (${status})${said ? `: ${said}` : ""}`,
      { cause },
    );
  }
}
