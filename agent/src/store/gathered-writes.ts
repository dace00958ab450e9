/** Writes `data`; `written` once the sink is done with its memory (it may be reused then). */
export type GatherSink = (data: Buffer, written: () => void) => Promise<void>;

/** Size of the writes; nix reads its input 32 KiB at a time, a pipe holds 64 KiB. */
export const GATHER_BYTES = 256 * 1024;
/** Buffers kept for reuse (a write holds one until nix has read it; the pipe is ~1 MiB ahead at most). */
const SPARE_BUFFERS = 8;

/**
 * Joins small writes into fewer large ones. The raw channel hands over one
 * 16 KiB TLS record at a time; each write into nix's pipe is a syscall that
 * wakes nix, which on this VM costs more than copying the bytes once into a
 * buffer that is reused, never reallocated. Nothing is held past `flush()`:
 * the caller flushes wherever nix must have every byte so far (a path's end).
 */
export class GatheredWrites {
  private buf: Buffer | undefined;
  private used = 0;
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly sink: GatherSink,
    private readonly size = GATHER_BYTES,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.used === 0 && data.length - off >= this.size) {
        // Big enough as it is: no copy (the caller keeps it until it is written).
        const rest = Buffer.from(data.buffer, data.byteOffset + off, data.length - off);
        await this.sink(rest, () => undefined);
        return;
      }
      this.buf ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size);
      const n = Math.min(this.size - this.used, data.length - off);
      this.buf.set(data.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === this.size) await this.flush();
    }
  }

  /** Hands what is gathered to the sink. */
  async flush(): Promise<void> {
    const buf = this.buf;
    if (buf === undefined || this.used === 0) return;
    const data = buf.subarray(0, this.used);
    this.buf = undefined;
    this.used = 0;
    await this.sink(data, () => {
      if (this.spare.length < SPARE_BUFFERS) this.spare.push(buf);
    });
  }

  /** Bytes gathered and not yet handed on. */
  get pending(): number {
    return this.used;
  }
}
