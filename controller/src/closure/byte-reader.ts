/** Pull-based reader over a byte stream: nothing is read until asked, so pipes apply backpressure. */
export class ByteReader {
  private readonly source: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);

  constructor(readable: AsyncIterable<Buffer>) {
    this.source = readable[Symbol.asyncIterator]();
  }

  /** The next bytes available, at most `max`; undefined at end of stream. */
  async next(max: number): Promise<Buffer | undefined> {
    while (this.pending.length === 0) {
      const r = await this.source.next();
      if (r.done === true) return undefined;
      this.pending = r.value;
    }
    const out = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(out.length);
    return out;
  }

  async u64(what: string): Promise<number> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < 8) {
      const piece = await this.next(8 - got);
      if (piece === undefined) throw new Error(`unexpected end of stream reading ${what}`);
      parts.push(piece);
      got += piece.length;
    }
    return Number(Buffer.concat(parts).readBigUInt64LE());
  }
}

export function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export function str(s: string): Buffer {
  const data = Buffer.from(s, "utf8");
  return Buffer.concat([u64(data.length), data, Buffer.alloc((8 - (data.length % 8)) % 8)]);
}
