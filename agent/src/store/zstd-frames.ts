/**
 * Splits a zstd stream (RFC 8878) at frame boundaries, without decoding:
 * a frame that is one raw ("stored") block — what the controller's
 * `--compress auto` sends for its uncompressed stretches — is handed on as
 * the bytes it stores; every other frame goes to zstd -d as it came. So the
 * uncompressed part of a push costs no zstd process and no pipes.
 *
 * Only the shapes it knows are split out; anything else (a skippable frame,
 * a dictionary, a reserved bit, a bad magic number) goes to zstd, and from
 * then on so does everything: zstd -d stays the judge of what is valid.
 */
export type Piece = { readonly to: "zstd" | "out"; readonly data: Buffer };

const MAGIC = 0xfd2fb528;
/** Block_Maximum_Size (RFC 8878 §3.1.1.2.4): a raw block is never bigger. */
const BLOCK_MAX = 128 * 1024;
const FCS_BYTES = [0, 2, 4, 8] as const;
const DID_BYTES = [0, 1, 2, 4] as const;

/** `data` (at most 128 KiB) as a frame of one raw block, as the controller sends it. */
export function rawFrame(data: Buffer): Buffer[] {
  const h = Buffer.alloc(9);
  h.writeUInt32LE(MAGIC, 0);
  h[5] = 7 << 3; // a 128 KiB window
  h.writeUIntLE(data.length * 8 + 1, 6, 3); // last block, raw
  return [h, data];
}

type State =
  /** Gathering a frame's header and its first block's header (in `head`). */
  | { readonly k: "frame" }
  /** Gathering a block header of a frame that goes to zstd. */
  | { readonly k: "block" }
  /** Forwarding `left` bytes to zstd, then `next`. */
  | { readonly k: "zstd"; left: number; readonly next: "frame" | "block" }
  /** Handing `left` stored bytes on. */
  | { readonly k: "out"; left: number }
  /** Not ours to split: the rest goes to zstd. */
  | { readonly k: "pass" };

export class ZstdFrames {
  private state: State = { k: "frame" };
  /** Bytes of a header not parsed yet (at most 21). */
  private head: Buffer = Buffer.alloc(0);
  private checksum = false;

  /** `data` in stream order, split into what goes to zstd and what goes straight out. */
  push(data: Buffer): Piece[] {
    const pieces: Piece[] = [];
    const emit = (to: Piece["to"], d: Buffer) => {
      if (d.length > 0) pieces.push({ to, data: d });
    };
    let at = 0;
    while (at < data.length) {
      const s = this.state;
      if (s.k === "pass") {
        emit("zstd", data.subarray(at));
        break;
      }
      if (s.k === "zstd" || s.k === "out") {
        const n = Math.min(s.left, data.length - at);
        emit(s.k, data.subarray(at, at + n));
        s.left -= n;
        at += n;
        if (s.left === 0) this.state = { k: s.k === "zstd" ? s.next : "frame" };
        continue;
      }
      const need = s.k === "block" ? 3 : this.headerBytes();
      if (need === undefined) {
        emit("zstd", this.takeHead());
        this.state = { k: "pass" };
        continue;
      }
      const n = Math.min(need - this.head.length, data.length - at);
      this.head = Buffer.concat([this.head, data.subarray(at, at + n)]);
      at += n;
      // A frame's header length is known once its descriptor is in: look again.
      if (s.k === "frame" && this.headerBytes() !== need) continue;
      if (this.head.length === need) this.parse(s.k, emit);
    }
    return pieces;
  }

  /** False if the stream stopped inside a frame (zstd -d, if it saw the start, says "truncated"). */
  get atFrameBoundary(): boolean {
    return this.state.k === "pass" || (this.state.k === "frame" && this.head.length === 0);
  }

  /** Bytes of the frame header and first block header, as far as known; undefined: not ours to split. */
  private headerBytes(): number | undefined {
    if (this.head.length < 4) return 9; // the shortest: magic, descriptor, window, block header
    if (this.head.readUInt32LE(0) !== MAGIC) return undefined; // skippable frames too
    if (this.head.length < 5) return 9;
    const fhd = this.head[4] as number;
    if ((fhd & 0x08) !== 0) return undefined; // reserved bit
    const single = (fhd & 0x20) !== 0;
    const fcs = FCS_BYTES[fhd >> 6] as number;
    return 4 + 1 + (single ? 0 : 1) + (DID_BYTES[fhd & 3] as number) + (single && fcs === 0 ? 1 : fcs) + 3;
  }

  private takeHead(): Buffer {
    const h = this.head;
    this.head = Buffer.alloc(0);
    return h;
  }

  private parse(k: "frame" | "block", emit: (to: Piece["to"], d: Buffer) => void): void {
    const head = this.takeHead();
    const bh = head.readUIntLE(head.length - 3, 3);
    const last = (bh & 1) === 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (k === "frame") {
      const fhd = head[4] as number;
      const wd = head[5] as number;
      const window = 2 ** (10 + (wd >> 3)) * (1 + (wd & 7) / 8);
      // No content size, no checksum, no dictionary, a window descriptor; one raw block that fits.
      if (fhd === 0 && type === 0 && last && size <= Math.min(window, BLOCK_MAX)) {
        this.state = size === 0 ? { k: "frame" } : { k: "out", left: size };
        return;
      }
      this.checksum = (fhd & 0x04) !== 0;
    }
    emit("zstd", head);
    if (type === 3) {
      this.state = { k: "pass" }; // reserved block type: zstd -d says what is wrong
      return;
    }
    const left = (type === 1 ? 1 : size) + (last && this.checksum ? 4 : 0); // RLE: one byte
    const next = last ? "frame" : "block";
    this.state = left === 0 ? { k: next } : { k: "zstd", left, next };
  }
}
