/** The process as the commands see it; cli.ts passes the real one, tests a recording one. */
export interface Io {
  readonly stdout: { write(text: string): void };
  readonly stderr: { write(text: string): void; readonly isTTY: boolean; readonly columns: number };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Milliseconds since the epoch (Date.now in production). */
  readonly now: () => number;
  /** Waits `ms`; rejects with `signal.reason` when aborted. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The real `Io.sleep`. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
