import { type Io, sleep } from "../core/io.js";

export interface CapturedIo {
  readonly io: Io;
  stdout(): string;
  stderr(): string;
}

/** An Io that records what a command prints; sleeps are capped so re-attach polling stays fast. */
export function captureIo(o: {
  cwd: string;
  tty?: boolean;
  columns?: number;
  env?: Record<string, string>;
  now?: () => number;
}): CapturedIo {
  let out = "";
  let err = "";
  const io: Io = {
    stdout: {
      write: (s) => {
        out += s;
      },
    },
    stderr: {
      write: (s) => {
        err += s;
      },
      isTTY: o.tty === true,
      columns: o.columns ?? 80,
    },
    env: o.env ?? {},
    cwd: o.cwd,
    now: o.now ?? Date.now,
    // Re-attach polls every 2 s in production; tests need not wait that long.
    sleep: (ms, signal) => sleep(Math.min(ms, 20), signal),
  };
  return { io, stdout: () => out, stderr: () => err };
}
