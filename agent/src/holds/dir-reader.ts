import { readHoldDir } from "./dir.js";
import { clip, type Hold, MAX_REASON } from "./types.js";

/** How long a status or admission waits for the hold directory before counting it as held. */
export const HOLD_DIR_TIMEOUT_MS = 5_000;

/**
 * The hold directory as status and admission read it: callers share the one read in flight, so
 * a directory that stops answering (a hung file system) ties up one libuv pool thread, not one
 * per GetStatus; a read that takes longer than `timeoutMs` holds the robot (unknown counts as
 * held) and is left to finish.
 */
export function holdDirReader(
  dir: string,
  timeoutMs: number = HOLD_DIR_TIMEOUT_MS,
  read: (dir: string) => Promise<Hold[]> = readHoldDir,
): () => Promise<Hold[]> {
  let running: Promise<Hold[]> | undefined;
  return async () => {
    running ??= read(dir).finally(() => {
      running = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Hold[]>((resolve) => {
      timer = setTimeout(() => resolve([stuck(dir, timeoutMs)]), timeoutMs);
    });
    try {
      return await Promise.race([running, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

function stuck(dir: string, timeoutMs: number): Hold {
  return {
    name: "hold-directory",
    source: "file",
    reason: clip(`${dir} did not answer within ${timeoutMs / 1000} s`, MAX_REASON),
    since: 0,
    expiresAt: undefined,
  };
}
