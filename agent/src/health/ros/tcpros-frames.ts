/**
 * Splits a TCPROS byte stream into frames (uint32 little-endian length, then that many bytes),
 * the same frames rosnodejs' DeserializeStream emits, without a Transform stream: a frame that
 * sits in one chunk is a view of it (no copy); one spread over chunks is joined once, when whole.
 */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Length of the frame being gathered; -1 until its 4 length bytes are in. */
  private frameLength = -1;

  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.chunks.length === 0) {
      this.split(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.frameLength < 0 && this.have >= 4) {
      const joined = Buffer.concat(this.chunks, this.have);
      this.chunks = [joined];
      this.frameLength = joined.readUInt32LE(0);
    }
    if (this.frameLength < 0 || this.have < 4 + this.frameLength) return;
    const joined =
      this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.have);
    this.chunks = [];
    this.have = 0;
    this.frameLength = -1;
    this.split(joined);
  }

  /** Emits every whole frame of `buf` (nothing pending before it); keeps the rest. */
  private split(buf: Buffer): void {
    let pos = 0;
    while (buf.length - pos >= 4) {
      const length = buf.readUInt32LE(pos);
      if (buf.length - pos - 4 < length) break;
      this.onFrame(buf.subarray(pos + 4, pos + 4 + length));
      pos += 4 + length;
    }
    if (pos === buf.length) return;
    const rest = buf.subarray(pos);
    this.chunks = [rest];
    this.have = rest.length;
    this.frameLength = rest.length >= 4 ? rest.readUInt32LE(0) : -1;
  }
}
