import { AgentError } from "../errors.js";
import { serveQueryValid } from "./cli-import.js";
import { type NixCliOptions, ServeProcess } from "./serve-process.js";

/**
 * Validity queries through one `nix-store --serve` that stays up
 * for `idleMs` after each answer. nix-store takes 0.1–0.2 s of CPU to start
 * on a robot, and a deploy asks twice within a moment (QueryMissingPaths,
 * then Activate's check of the system path): issue 13. Every answer is read
 * from the store when asked; nothing is cached but the process. Queries take
 * turns on it.
 */
export class WarmValidityQuery {
  private proc: ServeProcess | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private idle: NodeJS.Timeout | undefined;
  private closed = false;
  private warming = false;
  /** The process outlives the query that started it; only close() or a failure ends it early. */
  private readonly life = new AbortController();

  constructor(
    private readonly options: NixCliOptions,
    private readonly idleMs: number,
  ) {}

  queryValid(paths: readonly string[], signal: AbortSignal): Promise<Set<string>> {
    const run = this.turn.then(() => this.ask(paths, signal));
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * A query is likely soon (a deploy's GetStatus comes before its
   * QueryMissingPaths): start the process now, in the background, so that
   * query finds it running. A kept one is kept another `idleMs`. Failures are
   * left for the query to meet and report.
   */
  prewarm(): void {
    if (this.closed || this.warming) return;
    if (this.proc !== undefined) {
      if (this.idle !== undefined) this.keep(this.proc); // idle, not in a query
      return;
    }
    this.warming = true;
    const run = this.turn.then(async () => {
      if (this.closed || this.proc !== undefined) return;
      this.keep(await this.start());
    });
    this.turn = run
      .catch(() => undefined)
      .finally(() => {
        this.warming = false;
      });
  }

  /** Ends the process now (agent shutdown, tests). */
  async close(): Promise<void> {
    this.closed = true;
    this.busy();
    await this.turn;
    const proc = this.proc;
    this.proc = undefined;
    if (proc !== undefined) await proc.stop(5_000);
    this.life.abort();
  }

  private async ask(paths: readonly string[], signal: AbortSignal): Promise<Set<string>> {
    signal.throwIfAborted();
    if (this.closed) throw new AgentError("ABORTED", "the store is closing");
    this.busy();
    const kept = this.proc;
    if (kept !== undefined) {
      try {
        return await this.askOn(kept, paths, signal);
      } catch (e) {
        // A kept process may have died while idle (killed, out of memory): once more on a new one.
        if (signal.aborted) throw e;
      }
    }
    return this.askOn(await this.start(), paths, signal);
  }

  private async askOn(
    proc: ServeProcess,
    paths: readonly string[],
    signal: AbortSignal,
  ): Promise<Set<string>> {
    if (signal.aborted) {
      this.keep(proc); // aborted while nix started: it stays up for the next query
      signal.throwIfAborted();
    }
    // Aborted mid-answer, the protocol state is unknown: that process is done.
    const onAbort = () => proc.terminate();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      // lock: nix takes a temporary GC root on every path asked, before it answers (a GC already
      // running learns of it through its socket), so a path reported present stays while the
      // process lives; the permanent roots (gc/roots.ts) keep it after.
      const valid = await serveQueryValid(proc, paths, true);
      this.keep(proc);
      return valid;
    } catch (e) {
      if (this.proc === proc) this.proc = undefined;
      proc.terminate();
      if (signal.aborted) throw new AgentError("ABORTED", "querying path validity aborted", { cause: e });
      throw await proc.failed("querying path validity", e);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  private async start(): Promise<ServeProcess> {
    // --write only makes the lock flag take temporary roots; this process is sent no import.
    const proc = await ServeProcess.start({ ...this.options, write: true, signal: this.life.signal });
    this.proc = proc;
    // Gone by itself (killed, crashed): the next query starts another.
    void proc.exited.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    return proc;
  }

  /** Idle from now: ends `idleMs` later unless a query comes. */
  private keep(proc: ServeProcess): void {
    if (this.closed) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.retire(proc), this.idleMs);
    this.idle.unref();
  }

  /** In use (or closing): no idle end. */
  private busy(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
  }

  private retire(proc: ServeProcess): void {
    this.idle = undefined;
    if (this.proc !== proc) return;
    this.proc = undefined;
    void proc.stop(5_000).catch(() => undefined);
  }
}
