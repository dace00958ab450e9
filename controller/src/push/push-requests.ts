import { writeTo } from "@ros-rollback/nix-core";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import type { NixCliOptions } from "../closure/nix-cli.js";
import { openAdaptiveZstd } from "./adaptive-zstd.js";
import { Channel, gather } from "./channel.js";
import { type CompressionChoice, chooseCompression, sampleRatio } from "./compress-choice.js";
import { type Compressor, openCompressor } from "./compressor.js";
import { cpuTimes } from "./cpu-idle.js";
import { type AgentProgress, describeDecision, LinkProbe, type LinkProbeOptions } from "./link-probe.js";
import { type NarPiece, readNars } from "./nar-source.js";
import { ProgressCounter, type PushProgress } from "./progress-counter.js";

export interface PushRequestOptions {
  /** "auto": none for data that does not compress (compress-choice.ts), else zstd as long as it pays (link-probe.ts). */
  readonly compression: Compression | "auto";
  /** With "auto": what was chosen, and why. */
  readonly onCompression?: (choice: CompressionChoice) => void;
  /** With "auto": the clock for the link probe (link-probe.ts), read three times per message. */
  readonly now?: () => number;
  /** With "auto": the probe's rule, sizes and CPU reading (defaults in link-probe.ts; the machine's CPU times). */
  readonly linkProbe?: LinkProbeOptions;
  /** Called from `written`: progress counts what the transport has sent, not what it was handed. */
  readonly onProgress?: (progress: PushProgress) => void;
  readonly nix?: NixCliOptions;
  /** The zstd binary; default: found on PATH. */
  readonly zstdBin?: string;
}

/** Size of NarChunk messages: big enough to amortise framing, small enough to interleave. */
const CHUNK = 128 * 1024;
/** NarChunk messages of auto's stretches of raw zstd blocks: the size --compress none sends. */
const RAW_CHUNK = CHUNK;
/** Messages waiting for the network; with CHUNK this bounds the queue to ~1 MiB. */
const QUEUE = 8;
/** NAR bytes --compress auto looks at before choosing (~10 ms of deflate). */
const SAMPLE_BYTES = 1024 * 1024;

const pathMessage = (info: PathInfo): PushPathsRequest => ({ item: { $case: "path", value: info } });

/** The messages, and the transport's word that one of them has left (for progress). */
export interface PushStream extends AsyncGenerator<PushPathsRequest> {
  written(message: PushPathsRequest): void;
  /** The agent will report what it consumed (before the first message is read): auto measures at its end. */
  expectAgentProgress(): void;
  /** The agent's report. */
  agentProgress(progress: AgentProgress): void;
}

/** The transport's word about the agent's progress, for auto's probe once it exists. */
class AgentReports {
  expected = false;
  probe: LinkProbe | undefined;
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
  const agent = new AgentReports();
  const now = options.now ?? (() => performance.now());
  return Object.assign(messages(infos, options, progress, agent, signal), {
    written: (m: PushPathsRequest) => progress.written(m),
    expectAgentProgress: () => {
      agent.expected = true;
    },
    agentProgress: (p: AgentProgress) => agent.probe?.progress(now(), p),
  });
}

const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;

async function* messages(
  infos: readonly PathInfo[],
  options: PushRequestOptions,
  progress: ProgressCounter,
  agent: AgentReports,
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
      const choice = chooseCompression({
        sampleRatio: sample.ratio,
        sampleBytes: sample.bytes,
      });
      options.onCompression?.(choice);
      compression = choice.compression;
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
    const probe =
      options.compression === "auto" && compression === Compression.COMPRESSION_ZSTD
        ? new LinkProbe({
            cpu: cpuTimes,
            ...options.linkProbe,
            onDecision: (d) => {
              options.linkProbe?.onDecision?.(d);
              options.onCompression?.({
                compression: d.mode === "raw" ? Compression.COMPRESSION_NONE : Compression.COMPRESSION_ZSTD,
                why: `at ${mib(progress.fedBytes)} of ${mib(progress.totalBytes)}: ${describeDecision(d)}`,
              });
            },
          })
        : undefined;
    if (probe !== undefined && agent.expected) probe.expectProgress();
    agent.probe = probe;
    // auto: one zstd stream that may carry raw blocks from any piece on (adaptive-zstd.ts).
    const adaptive =
      probe === undefined ? undefined : openAdaptiveZstd(options.zstdBin ?? "zstd", stop.signal);
    compressor = adaptive ?? (await openCompressor(compression, options.zstdBin ?? "zstd", stop.signal));
    const c = compressor;
    const channel = new Channel<PushPathsRequest>(QUEUE);
    const feed = async () => {
      let current = -1;
      for await (const piece of nars) {
        if (piece.index !== current) {
          current = piece.index;
          await channel.push(pathMessage(infos[current] as PathInfo), stop.signal);
        }
        if (adaptive !== undefined && probe !== undefined) adaptive.raw = probe.mode === "raw";
        await writeTo(c.input, piece.data, stop.signal);
        progress.fed(piece);
      }
      c.input.end();
    };
    const drain = async () => {
      // What still waits in our write buffer has not reached the compressor: not counted yet.
      // auto's uncompressed stretches: messages as big as --compress none's (fixed costs per message).
      const size = () => (adaptive?.raw === true ? RAW_CHUNK : CHUNK);
      for await (const parts of gather(c.output, size))
        await channel.push(progress.chunk(parts, c.input.writableLength), stop.signal);
    };
    Promise.all([feed(), drain()]).then(
      () => channel.close(),
      (e: unknown) => channel.fail(e),
    );
    const now = options.now ?? (() => performance.now());
    const pending = channel[Symbol.asyncIterator]();
    let carried = 0;
    for (;;) {
      const t0 = now();
      const r = await pending.next();
      if (r.done === true) break;
      const t1 = now();
      yield r.value;
      const t2 = now();
      if (probe !== undefined && r.value.item?.$case === "chunk") {
        const to = progress.carriedBy(r.value) ?? carried;
        probe.add(t1 - t0, t2 - t1, r.value.item.value.data.length, to - carried);
        carried = to;
      }
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
