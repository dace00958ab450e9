/** How long the first Ctrl-C (or SIGTERM) may take to stop cleanly before the process dies. */
export const INTERRUPT_GRACE_MS = 1_000;

export type StopSignal = "SIGINT" | "SIGTERM";

/** What the signal handling needs of the process (cli.ts passes the real one). */
export interface InterruptPorts {
  /** Called on each SIGINT and SIGTERM with the signal's name. */
  on(signal: StopSignal, listener: () => void): void;
  write(text: string): void;
  /**
   * Ends the process at once by `signal`, as if it had no handler (exit status 128 + n). Not
   * process.exit(): that waits for libuv's pool threads, and one blocked opening a FIFO never
   * returns, which kept a Ctrl-C'd CLI alive for good (issue 24).
   */
  die(signal: StopSignal): void;
  /** An unref'd timer: it must not keep a process that stopped cleanly alive. */
  later(ms: number, run: () => void): void;
}

/**
 * First SIGINT or SIGTERM: `abort` (the command stops cleanly and says what state the robot may
 * be in) and, if it has not ended within `graceMs`, die by that signal. Another signal: die now.
 */
export function handleInterrupts(
  ports: InterruptPorts,
  abort: () => void,
  graceMs = INTERRUPT_GRACE_MS,
): void {
  let first: StopSignal | undefined;
  const onSignal = (name: StopSignal) => () => {
    if (first !== undefined) {
      ports.write(`${name} again: exiting without cleanup\n`);
      ports.die(name);
      return;
    }
    first = name;
    ports.write(`\n${name}: stopping (press Ctrl-C again to exit immediately)\n`);
    ports.later(graceMs, () => {
      ports.write(`${name}: not stopped within ${graceMs / 1000} s: exiting without cleanup\n`);
      ports.die(name);
    });
    abort();
  };
  ports.on("SIGINT", onSignal("SIGINT"));
  ports.on("SIGTERM", onSignal("SIGTERM"));
}
