import { NixFormatError } from "./errors.js";

/**
 * The framing of Nix's worker and serve protocols: every integer is a
 * little-endian u64, every string a u64 length followed by the bytes and zero
 * padding to a multiple of 8, every set a u64 count followed by its strings.
 */

const ZEROS = Buffer.alloc(8);

export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export function str(s: string): Buffer {
  const data = Buffer.from(s, "utf8");
  const pad = (8 - (data.length % 8)) % 8;
  return Buffer.concat([u64(data.length), data, ZEROS.subarray(0, pad)]);
}

export function strs(list: readonly string[]): Buffer {
  return Buffer.concat([u64(list.length), ...list.map(str)]);
}

function endOfStream(what: string): NixFormatError {
  return new NixFormatError("END_OF_STREAM", `unexpected end of stream while reading ${what}`);
}

/** The other side closed the stream before a complete value arrived. */
export function isEndOfStream(e: unknown): boolean {
  return e instanceof NixFormatError && e.code === "END_OF_STREAM";
}

/**
 * Pull-based reader over a byte stream. Nothing is read from the source
 * until asked, so a slow consumer holds the producer back (pipe backpressure).
 */
export class ByteReader {
  private readonly source: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(readable: AsyncIterable<Buffer>) {
    this.source = readable[Symbol.asyncIterator]();
  }

  /** The next bytes available, at most `max`; undefined at end of stream. */
  async next(max: number): Promise<Buffer | undefined> {
    while (this.pending.length === 0) {
      if (this.ended) return undefined;
      const r = await this.source.next();
      if (r.done === true) {
        this.ended = true;
        return undefined;
      }
      this.pending = r.value;
    }
    const n = Math.min(max, this.pending.length);
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  async exactly(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const piece = await this.next(n - got);
      if (piece === undefined) throw endOfStream(what);
      parts.push(piece);
      got += piece.length;
    }
    return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
  }

  async u64(what: string): Promise<number> {
    const v = (await this.exactly(8, what)).readBigUInt64LE();
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new NixFormatError("WIRE", `${what}: ${v} is out of range`);
    return Number(v);
  }

  async string(what: string, maxLength: number): Promise<string> {
    const len = await this.u64(what);
    if (len > maxLength) throw new NixFormatError("WIRE", `${what}: string of ${len} bytes is too long`);
    const padded = len + ((8 - (len % 8)) % 8);
    return (await this.exactly(padded, what)).subarray(0, len).toString("utf8");
  }

  async strings(what: string, maxCount: number, maxLength: number): Promise<string[]> {
    const count = await this.u64(what);
    if (count > maxCount)
      throw new NixFormatError("WIRE", `${what}: ${count} entries, expected at most ${maxCount}`);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await this.string(what, maxLength));
    return out;
  }

  /** Yields exactly `n` bytes in the pieces they arrive in (each at most `maxPiece`). */
  async *stream(n: number, maxPiece: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const piece = await this.next(Math.min(left, maxPiece));
      if (piece === undefined) throw endOfStream(what);
      left -= piece.length;
      yield piece;
    }
  }
}
