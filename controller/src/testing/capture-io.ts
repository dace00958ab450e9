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
  /** Instead of the capped real sleep (e.g. virtualClock's). */
  sleep?: Io["sleep"];
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
    sleep: o.sleep ?? ((ms, signal) => sleep(Math.min(ms, 20), signal)),
  };
  return { io, stdout: () => out, stderr: () => err };
}

/**
 * A clock that runs ahead by every sleep's length (each sleep takes 1 ms of
 * real time): a wait of minutes is over in milliseconds, and nothing in a
 * test depends on how fast the machine is.
 */
export function virtualClock(): { now: () => number; sleep: Io["sleep"]; slept: () => number } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    sleep: async (ms, signal) => {
      await sleep(1, signal);
      offset += ms;
    },
    slept: () => offset,
  };
}
