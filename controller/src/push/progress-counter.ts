// What a push has sent, counted per chunk and reported once the transport has written it.
import { narChunkRequest, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import type { NarPiece } from "./nar-source.js";

export interface PushProgress {
  /**
   * NAR bytes carried by the chunks written so far. Compressed, it is what
   * had entered the compressor when the chunk came out of it: ahead of the
   * truth by what the compressor and its pipe hold (single-threaded zstd: a
   * block or two). The progress bar leads with wireBytesSent.
   */
  readonly bytesSent: number;
  /** Sum of the paths' NAR sizes. */
  readonly bytesTotal: number;
  /** Bytes of NarChunk data written (compressed, if the push is). */
  readonly wireBytesSent: number;
  readonly pathsSent: number;
  readonly pathsTotal: number;
}

/** Tags each chunk with the progress it completes, and reports it once the chunk is written. */
export class ProgressCounter {
  private bytesFed = 0;
  /** NAR bytes the chunks so far carry (at most what was fed). */
  private carried = 0;
  private pathsFed = 0;
  private wireBytes = 0;
  private readonly bytesTotal: number;
  private readonly at = new WeakMap<PushPathsRequest, PushProgress>();
  private reported: PushProgress | undefined;

  constructor(
    private readonly infos: readonly PathInfo[],
    private readonly onProgress: ((p: PushProgress) => void) | undefined,
  ) {
    this.bytesTotal = infos.reduce((n, i) => n + i.narSize, 0);
  }

  fed(piece: NarPiece): void {
    this.bytesFed += piece.data.length;
    if (piece.last) this.pathsFed++;
  }

  /** `held`: bytes fed but known not to be in the compressor yet. */
  chunk(parts: readonly Buffer[], held = 0): PushPathsRequest {
    const m = narChunkRequest(parts);
    if (m.item?.$case === "chunk") this.wireBytes += m.item.value.data.length;
    this.carried = Math.max(this.carried, this.bytesFed - held);
    this.at.set(m, {
      bytesSent: this.carried,
      bytesTotal: this.bytesTotal,
      wireBytesSent: this.wireBytes,
      pathsSent: this.pathsFed,
      pathsTotal: this.infos.length,
    });
    return m;
  }

  written(m: PushPathsRequest): void {
    const p = this.at.get(m);
    // Transports confirm in order; a late or repeated confirmation must not move the bar back.
    if (p === undefined || (this.reported !== undefined && p.wireBytesSent <= this.reported.wireBytesSent))
      return;
    this.reported = p;
    this.onProgress?.(p);
  }
}
