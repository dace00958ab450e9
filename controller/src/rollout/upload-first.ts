import type { PathInfo } from "@ros-rollback/proto";
import type { AgentApi } from "../agent-api.js";
import type { ClosureOps } from "../closure/port.js";
import { formatBytes, formatDuration } from "../report/progress.js";
import type { PushSummary, Transfer } from "../transfer/transfer.js";

export interface UploadOptions {
  readonly closure: ClosureOps;
  /** Any store URI `nix copy --to` accepts. */
  readonly storeUri: string;
  readonly signKeyFile: string | undefined;
  readonly log: (line: string) => void;
  readonly now: () => number;
}

/**
 * --upload-to: the closure goes to a binary cache ONCE (signed on the way),
 * however many robots then substitute it; each robot's transfer waits for
 * that one upload.
 */
export class UploadFirst implements Transfer {
  private uploaded: Promise<void> | undefined;

  constructor(
    private readonly inner: Transfer,
    private readonly o: UploadOptions,
  ) {}

  async ensurePaths(
    api: AgentApi,
    closure: readonly PathInfo[],
    signal: AbortSignal,
    report: (summary: PushSummary) => void,
  ): Promise<PushSummary> {
    this.uploaded ??= this.upload(closure, signal);
    await this.uploaded;
    // An answer asked before the upload (minutes, maybe) is not used: the robot's store may have
    // changed meanwhile (a garbage collection); it is asked again now.
    return this.inner.ensurePaths(api, closure, signal, report);
  }

  private async upload(closure: readonly PathInfo[], signal: AbortSignal): Promise<void> {
    const { o } = this;
    const referenced = new Set(closure.flatMap((p) => p.references.filter((r) => r !== p.storePath)));
    const roots = closure.filter((p) => !referenced.has(p.storePath)).map((p) => p.storePath);
    const bytes = closure.reduce((s, p) => s + p.narSize, 0);
    o.log(
      `uploading ${closure.length} paths (${formatBytes(bytes)} uncompressed) to ${o.storeUri.slice(0, 200)}`,
    );
    const started = o.now();
    for (const root of roots) await o.closure.uploadClosure(root, o.storeUri, o.signKeyFile, signal);
    o.log(`uploaded in ${formatDuration((o.now() - started) / 1000)}`);
  }
}
