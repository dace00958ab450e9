import type { Logger } from "pino";
import { type CommandRunner, commandFailed } from "../system/command.js";

/** flock(1)'s exit status when -n finds the lock taken (-E): told apart from its own failures. */
const BUSY = 75;

/** Nix's GC as seen from outside the agent: any `nix-store --gc`, the agent's or one started by hand. */
export interface GcLock {
  /**
   * Resolves once no GC that started before this call is still running. Roots made before
   * the call are then seen by every GC that can still delete anything.
   */
  waitForRunningGc(signal: AbortSignal): Promise<void>;
}

/**
 * Nix's GC holds gc.lock exclusively for its whole run and reads the roots once, at its start;
 * Nix itself makes a permanent root under a shared lock on it, waiting out a running GC. A
 * shared flock taken and let go at once does the same after the agent's roots are made.
 */
export class FlockGcLock implements GcLock {
  constructor(
    private readonly runner: CommandRunner,
    private readonly lockFile: string,
    private readonly log: Pick<Logger, "info">,
    /** Bound of one wait when the caller's signal has none shorter. */
    private readonly timeoutMs = 30 * 60_000,
  ) {}

  async waitForRunningGc(signal: AbortSignal): Promise<void> {
    if ((await this.flock(["-n", "-E", String(BUSY)], signal, 10_000)) === "taken") return;
    this.log.info(
      { lockFile: this.lockFile },
      "a Nix garbage collection is running: waiting for it to end before answering about the store",
    );
    const started = Date.now();
    await this.flock([], signal, this.timeoutMs);
    this.log.info({ waitedMs: Date.now() - started }, "the garbage collection ended");
  }

  private async flock(
    extra: readonly string[],
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<"taken" | "busy"> {
    const argv = ["flock", "--shared", ...extra, this.lockFile, "true"];
    const r = await this.runner.run(argv, { signal, timeoutMs });
    if (r.code === 0) return "taken";
    if (r.code === BUSY && extra.length > 0) return "busy";
    throw commandFailed(argv, r);
  }
}
