import { writeTo } from "@ros-rollback/nix-core";
import { Compression, type PathInfo, type PushPathsRequest, rawZstdFrames } from "@ros-rollback/proto";
import type { NixCliOptions } from "../closure/nix-cli.js";
import type { CompressionChoice } from "../closure/port.js";
import { Channel, gather } from "./channel.js";
import { chooseCompression, sampleRatio } from "./compress-choice.js";
import { type Compressor, openCompressor } from "./compressor.js";
import { type AgentReport, LinkWatch } from "./link-verdict.js";
import { type NarPiece, readNars } from "./nar-source.js";
import { ProgressCounter, type PushProgress } from "./progress-counter.js";

export interface PushRequestOptions {
  /** "auto": none for data that does not compress (compress-choice.ts), else zstd while the link is the bottleneck (link-verdict.ts). */
  readonly compression: Compression | "auto";
  /** With "auto": what was chosen, and why. */
  readonly onCompression?: (choice: CompressionChoice) => void;
  /** With "auto": the clock the stream's waits and the agent's reports are timed by (link-verdict.ts). */
  readonly now?: () => number;
  /** Called from `written`: progress counts what the transport has sent, not what it was handed. */
  readonly onProgress?: (progress: PushProgress) => void;
  readonly nix?: NixCliOptions;
  /** The zstd binary; default: found on PATH. */
  readonly zstdBin?: string;
}

/** Size of NarChunk messages: big enough to amortise framing, small enough to interleave. */
const CHUNK = 128 * 1024;
/** Messages waiting for the network; with CHUNK this bounds the queue to ~1 MiB. */
const QUEUE = 8;
/** NAR bytes --compress auto looks at before choosing (~10 ms of deflate). */
const SAMPLE_BYTES = 1024 * 1024;

const pathMessage = (info: PathInfo): PushPathsRequest => ({ item: { $case: "path", value: info } });

/** The messages, and the transport's word that one of them has left (for progress). */
export interface PushStream extends AsyncGenerator<PushPathsRequest> {
  written(message: PushPathsRequest): void;
  /** The agent's report (raw channel version 2): auto's link verdict (link-verdict.ts). */
  agentProgress(progress: AgentReport): void;
}

/**
 * The PushPaths message stream for `infos` (references first, as
 * computeClosure returns them): PushOptions, then per path its PathInfo and
 * NAR bytes. With compression all NARs form one compressed stream, and a
 * path's PathInfo is queued before any of its bytes enter the compressor, so
 * it always reaches the agent before the compressed bytes that carry them.
 * Everything is pulled: nothing is read from the store faster than the
 * consumer takes messages. Stopping the iteration stops the subprocesses.
 */
export function pushRequests(
  infos: readonly PathInfo[],
  options: PushRequestOptions,
  signal: AbortSignal,
): PushStream {
  const progress = new ProgressCounter(infos, options.onProgress);
  const now = options.now ?? (() => performance.now());
  const link = { watch: undefined as LinkWatch | undefined };
  return Object.assign(messages(infos, options, progress, link, now, signal), {
    written: (m: PushPathsRequest) => progress.written(m),
    agentProgress: (p: AgentReport) => {
      const v = link.watch?.progress(now(), p);
      if (v === undefined) return;
      const compression = v.linkBound ? Compression.COMPRESSION_ZSTD : Compression.COMPRESSION_NONE;
      options.onCompression?.({ compression, why: v.why });
    },
  });
}

async function* messages(
  infos: readonly PathInfo[],
  options: PushRequestOptions,
  progress: ProgressCounter,
  link: { watch: LinkWatch | undefined },
  now: () => number,
  signal: AbortSignal,
): AsyncGenerator<PushPathsRequest> {
  signal.throwIfAborted();
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let compressor: Compressor | undefined;
  try {
    let nars = readNars(infos, options.nix ?? {}, stop.signal);
    let compression = options.compression;
    if (compression === "auto") {
      // Decided on the first NAR bytes, which are then sent as they are: no extra read of the store.
      const ahead = await readAhead(nars, SAMPLE_BYTES);
      nars = ahead.pieces;
      const sample = sampleRatio(ahead.sample);
      const choice = chooseCompression({ sampleRatio: sample.ratio, sampleBytes: sample.bytes });
      options.onCompression?.(choice);
      compression = choice.compression;
      if (compression === Compression.COMPRESSION_ZSTD) link.watch = new LinkWatch();
    }
    // The total lets the agent refuse a push its disk cannot hold before the first path's bytes.
    const totalNarSize = infos.reduce((n, i) => n + i.narSize, 0);
    yield { item: { $case: "options", value: { compression, totalNarSize } } };
    if (compression === Compression.COMPRESSION_NONE) {
      let current = -1;
      for await (const { index, parts } of gatherPieces(nars, CHUNK, progress)) {
        if (index !== current) {
          current = index;
          yield pathMessage(infos[current] as PathInfo);
        }
        yield progress.chunk(parts);
      }
      return;
    }
    if (compression !== Compression.COMPRESSION_GZIP && compression !== Compression.COMPRESSION_ZSTD) {
      throw new Error(`unknown compression ${compression}`);
    }
    const c = await openCompressor(compression, options.zstdBin ?? "zstd", stop.signal);
    compressor = c;
    const channel = new Channel<PushPathsRequest>(QUEUE);
    // What still waits in our write buffer has not reached the compressor: not counted yet.
    const drained = (async () => {
      for await (const parts of gather(c.output, CHUNK))
        await channel.push(progress.chunk(parts, c.input.writableLength), stop.signal);
    })();
    const feed = async () => {
      let current = -1;
      let raw = false;
      for await (const { index, parts } of gatherPieces(nars, CHUNK, progress)) {
        if (index !== current) {
          current = index;
          await channel.push(pathMessage(infos[current] as PathInfo), stop.signal);
        }
        if (!raw && link.watch?.verdict?.linkBound === false) {
          // zstd's frame ends, and all its output leaves, before the raw frames that follow it.
          raw = true;
          c.input.end();
          await drained;
        }
        if (raw) await channel.push(progress.chunk(parts.flatMap(rawZstdFrames)), stop.signal);
        else for (const p of parts) await writeTo(c.input, p, stop.signal);
      }
      if (!raw) c.input.end();
    };
    Promise.all([feed(), drained]).then(
      () => channel.close(),
      (e: unknown) => channel.fail(e),
    );
    const pending = channel[Symbol.asyncIterator]();
    for (;;) {
      const t0 = now();
      const r = await pending.next();
      if (r.done === true) break;
      const t1 = now();
      yield r.value;
      link.watch?.waited(t1 - t0, now() - t1);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    stop.abort(new Error("push stream closed"));
    compressor?.destroy();
  }
}

/** Holds the first `bytes` of the pieces; `pieces` replays them, then goes on. */
async function readAhead(
  source: AsyncGenerator<NarPiece>,
  bytes: number,
): Promise<{ sample: Buffer[]; pieces: AsyncGenerator<NarPiece> }> {
  const held: NarPiece[] = [];
  let n = 0;
  while (n < bytes) {
    const r = await source.next();
    if (r.done) break;
    held.push(r.value);
    n += r.value.data.length;
  }
  async function* pieces(): AsyncGenerator<NarPiece> {
    try {
      yield* held;
      yield* source;
    } finally {
      await source.return(undefined);
    }
  }
  return { sample: held.map((p) => p.data), pieces: pieces() };
}

/** One path's pieces, about `size` bytes at a time (joined once, by the chunk's encoder). */
async function* gatherPieces(
  pieces: AsyncIterable<NarPiece>,
  size: number,
  progress: ProgressCounter,
): AsyncGenerator<{ index: number; parts: Buffer[] }> {
  let parts: Buffer[] = [];
  let bytes = 0;
  for await (const p of pieces) {
    parts.push(p.data);
    bytes += p.data.length;
    progress.fed(p);
    if (p.last || bytes >= size) {
      yield { index: p.index, parts };
      parts = [];
      bytes = 0;
    }
  }
}
