import { encodeRawPushProgress } from "@ros-rollback/proto";
import type { PushByteCounts } from "../store-port.js";

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
    send(encodeRawPushProgress({ wireBytes: wire, narBytes: nar }));
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
