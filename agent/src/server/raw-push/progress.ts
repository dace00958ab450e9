import { encodeRawPushProgress } from "@ros-rollback/proto";
import type { PushByteCounts } from "../../store/store-port.js";

const MiB = 1024 * 1024;
/** A PROGRESS frame at least every this many wire bytes consumed… */
export const PROGRESS_EVERY_BYTES = MiB;
/** …or this often while bytes move, whichever comes first; never more often than every 1/64 of it. */
export const PROGRESS_EVERY_MS = 50;

/**
 * The push's consumed bytes as PROGRESS frames (`send`): bounded by bytes
 * and time, so a fast push costs a 21-byte frame per MiB and a slow one
 * still reports 20 times a second. Counted on the receive path, no timer.
 */
export function progressFrames(
  send: (frame: Buffer) => void,
  waitedUs: () => number,
  now: () => number = () => performance.now(),
): PushByteCounts {
  let wire = 0;
  let nar = 0;
  let sentWire = 0;
  let sentNar = 0;
  let sentAt = now();
  const maybeSend = () => {
    if (wire === sentWire && nar === sentNar) return;
    const t = now();
    const elapsed = t - sentAt;
    if (wire - sentWire < PROGRESS_EVERY_BYTES && elapsed < PROGRESS_EVERY_MS) return;
    if (elapsed < PROGRESS_EVERY_MS / 64) return;
    sentWire = wire;
    sentNar = nar;
    sentAt = t;
    send(encodeRawPushProgress({ wireBytes: wire, narBytes: nar, waitedUs: Math.round(waitedUs()) }));
  };
  return {
    wireBytes: (n) => {
      wire += n;
      maybeSend();
    },
    narBytes: (n) => {
      nar += n;
      maybeSend();
    },
  };
}

/**
 * `bytes`, timing how long each read waited for the network: while it waits,
 * the import is starved (the link or the sender is the bottleneck); while it
 * does not ask, the import is busy (it is).
 */
export function timedReads(
  bytes: AsyncIterable<Buffer>,
  now: () => number = () => performance.now(),
): { bytes: AsyncIterable<Buffer>; waitedUs: () => number } {
  let waitedMs = 0;
  async function* timed(): AsyncGenerator<Buffer> {
    const it = bytes[Symbol.asyncIterator]();
    try {
      for (;;) {
        const t = now();
        const r = await it.next();
        waitedMs += now() - t;
        if (r.done === true) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { bytes: timed(), waitedUs: () => waitedMs * 1000 };
}
