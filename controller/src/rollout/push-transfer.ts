import { Compression, type PathInfo } from "@ros-rollback/proto";
import { AgentCallError } from "../agent-api/call-error.js";
import type { AgentApi } from "../agent-api.js";
import type { ClosureOps } from "../closure/port.js";
import { formatBytes, formatDuration } from "../report/progress.js";
import type { PushSummary, Transfer, TransferProgress } from "../transfer/transfer.js";

export const COMPRESSIONS = {
  auto: "auto",
  none: Compression.COMPRESSION_NONE,
  zstd: Compression.COMPRESSION_ZSTD,
  gzip: Compression.COMPRESSION_GZIP,
} as const;
export type CompressionName = keyof typeof COMPRESSIONS;
const NAMES: ReadonlyMap<Compression | "auto", CompressionName> = new Map(
  Object.entries(COMPRESSIONS).map(([name, c]) => [c, name as CompressionName]),
);

export interface PushTransferOptions {
  readonly closure: ClosureOps;
  readonly compression: CompressionName;
  /** Absolute path of a Nix secret key: sign the paths to push with it first. */
  readonly signKeyFile: string | undefined;
  readonly log: (line: string) => void;
  readonly now: () => number;
  /** A progress display for one robot's push. */
  readonly progress: (target: string) => TransferProgress;
}

/**
 * Today's transfer: ask the agent which paths it lacks (QueryMissingPaths),
 * push only those in one PushPaths stream. Each path is signed at most once
 * however many robots lack it (signing is serialised and cached).
 */
export class PushTransfer implements Transfer {
  private readonly signed = new Map<string, PathInfo>();
  private signing: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: PushTransferOptions) {}

  async ensurePaths(
    api: AgentApi,
    closure: readonly PathInfo[],
    signal: AbortSignal,
    report: (summary: PushSummary) => void,
    asked?: Promise<string[]>,
  ): Promise<PushSummary> {
    const missing = await (asked ??
      api.queryMissingPaths(
        closure.map((p) => p.storePath),
        signal,
      ));
    return this.pushMissing(api, closure, missing, signal, report);
  }

  /** Pushes the paths of `closure` that the agent said (just now) it lacks. */
  async pushMissing(
    api: AgentApi,
    closure: readonly PathInfo[],
    missingPaths: readonly string[],
    signal: AbortSignal,
    report: (summary: PushSummary) => void,
  ): Promise<PushSummary> {
    const { o } = this;
    const target = api.target.name;
    const missing = new Set(missingPaths);
    let toPush = closure.filter((p) => missing.has(p.storePath));
    const bytesMissing = toPush.reduce((sum, p) => sum + p.narSize, 0);
    o.log(
      `${target}: ${toPush.length} of ${closure.length} paths missing (${formatBytes(bytesMissing)} uncompressed)`,
    );
    let summary: PushSummary = {
      compression: o.compression,
      pathsTotal: closure.length,
      pathsMissing: toPush.length,
      bytesMissing,
      pathsImported: 0,
      pathsSkipped: 0,
      narBytes: 0,
      wireBytes: 0,
      signed: false,
      seconds: 0,
      transport: null,
      substituted: null,
    };
    report(summary);
    if (toPush.length === 0) return summary;
    if (o.signKeyFile !== undefined) {
      toPush = await this.sign(toPush, o.signKeyFile, signal);
      summary = { ...summary, signed: true };
      report(summary);
    }
    summary = await this.push(api, toPush, summary, signal);
    report(summary);
    return summary;
  }

  /** The paths with our signature, signing those not signed yet (one signing at a time). */
  private sign(infos: PathInfo[], keyFile: string, signal: AbortSignal): Promise<PathInfo[]> {
    const run = this.signing.then(async () => {
      const unsigned = infos.filter((p) => !this.signed.has(p.storePath));
      if (unsigned.length > 0) {
        for (const p of await this.o.closure.signPaths(unsigned, keyFile, signal)) {
          this.signed.set(p.storePath, p);
        }
      }
      return infos.map((p) => this.signed.get(p.storePath) ?? p);
    });
    this.signing = run.catch(() => undefined);
    return run;
  }

  private async push(
    api: AgentApi,
    infos: PathInfo[],
    summary: PushSummary,
    signal: AbortSignal,
  ): Promise<PushSummary> {
    const { o } = this;
    const progress = o.progress(api.target.name);
    const started = o.now();
    let wireBytes: number | null = null;
    let compression: string = o.compression;
    let transport: PushSummary["transport"] = null;
    const used: string[] = [];
    const response: Awaited<ReturnType<AgentApi["pushPaths"]>> = { imported: [], skipped: [], narBytes: 0 };
    const total = { bytes: infos.reduce((n, p) => n + p.narSize, 0), paths: infos.length };
    try {
      const messages = o.closure.pushRequests(
        infos,
        {
          compression: COMPRESSIONS[o.compression],
          onCompression: (c) => {
            // auto may go uncompressed part of the way (and back): the summary names each it used.
            const name = NAMES.get(c.compression) ?? "none";
            if (!used.includes(name)) used.push(name);
            compression = used.join("+");
            o.log(`${api.target.name}: compression ${name}: ${c.why}`);
          },
          onProgress: (p) => {
            wireBytes = p.wireBytesSent ?? p.bytesSent;
            progress.update({
              bytesSent: p.bytesSent,
              bytesTotal: total.bytes,
              wireBytesSent: wireBytes,
              pathsSent: p.pathsSent,
              pathsTotal: total.paths,
            });
          },
        },
        signal,
      );
      // Progress moves when grpc-js has written a chunk, not when it was handed over.
      const r = await api.pushPaths(
        messages,
        signal,
        (m) => messages.written(m),
        (t) => {
          transport = t.kind;
          o.log(
            t.kind === "raw"
              ? `${api.target.name}: pushing over the agent's raw TLS push channel`
              : `${api.target.name}: pushing over gRPC PushPaths (no raw push channel: ${t.why})`,
          );
        },
        (p) => messages.agentProgress?.(p),
      );
      response.imported.push(...r.imported);
      response.skipped.push(...r.skipped);
      response.narBytes += r.narBytes;
      progress.finish();
    } catch (e) {
      progress.interrupt();
      if (e instanceof AgentCallError && e.agentCode === "UNTRUSTED" && o.signKeyFile === undefined) {
        throw e.withHint("sign them with --sign-key FILE, whose public key the agent trusts");
      }
      throw e;
    }
    const seconds = (o.now() - started) / 1000;
    o.log(
      `${api.target.name}: pushed ${response.imported.length} paths (${formatBytes(response.narBytes)}${wireBytes === null || wireBytes === response.narBytes ? "" : `, ${formatBytes(wireBytes)} on the wire`}) in ${formatDuration(seconds)}` +
        (response.skipped.length > 0 ? `, ${response.skipped.length} were already there` : ""),
    );
    return {
      ...summary,
      pathsImported: response.imported.length,
      pathsSkipped: response.skipped.length,
      narBytes: response.narBytes,
      wireBytes,
      seconds,
      compression,
      transport,
    };
  }
}
