import type { Compression, PathInfo, PushPathsRequest } from "@ros-rollback/proto";
import type { ClosureOps } from "../closure-port.js";
import type { PushProgress } from "../progress.js";

export function pathInfo(name: string, narSize: number, references: string[] = []): PathInfo {
  return {
    storePath: `/nix/store/${name.padStart(32, "0").slice(0, 32)}-${name}`,
    narHash: `sha256:${"0".repeat(52)}`,
    narSize,
    references,
    deriver: "",
    signatures: [],
    ca: "",
  };
}

export interface FakeClosure extends ClosureOps {
  readonly computed: string[];
  readonly signedWith: string[];
  readonly pushed: { infos: PathInfo[]; compression: Compression }[];
  readonly uploaded: { storePath: string; storeUri: string; secretKeyFile: string | undefined }[];
}

/**
 * Local-store operations without Nix: a fixed closure whose NARs are zero
 * bytes of `narSize`. `beforeChunk` lets a test stall or fail the push.
 */
export function fakeClosure(
  closure: PathInfo[],
  options: { beforeChunk?: (signal: AbortSignal) => Promise<void>; chunkSize?: number } = {},
): FakeClosure {
  const fake: FakeClosure = {
    computed: [],
    signedWith: [],
    pushed: [],
    uploaded: [],
    async computeClosure(storePath, signal) {
      signal.throwIfAborted();
      fake.computed.push(storePath);
      return closure.map((p) => ({ ...p }));
    },
    async uploadClosure(storePath, storeUri, secretKeyFile) {
      fake.uploaded.push({ storePath, storeUri, secretKeyFile });
    },
    async signPaths(infos, secretKeyFile) {
      fake.signedWith.push(secretKeyFile);
      return infos.map((p) => ({ ...p, signatures: [...p.signatures, "test-key:c2lnbmF0dXJl"] }));
    },
    async *pushRequests(infos, opts, signal): AsyncGenerator<PushPathsRequest> {
      fake.pushed.push({ infos, compression: opts.compression });
      const chunkSize = options.chunkSize ?? 64 * 1024;
      const progress: PushProgress = {
        bytesSent: 0,
        bytesTotal: infos.reduce((s, p) => s + p.narSize, 0),
        pathsSent: 0,
        pathsTotal: infos.length,
        wireBytesSent: 0,
      };
      let sent = progress;
      yield { item: { $case: "options", value: { compression: opts.compression } } };
      for (const info of infos) {
        yield { item: { $case: "path", value: info } };
        for (let off = 0; off < info.narSize; off += chunkSize) {
          await options.beforeChunk?.(signal);
          signal.throwIfAborted();
          const n = Math.min(chunkSize, info.narSize - off);
          yield { item: { $case: "chunk", value: { data: Buffer.alloc(n) } } };
          sent = { ...sent, bytesSent: sent.bytesSent + n, wireBytesSent: sent.bytesSent + n };
          opts.onProgress?.(sent);
        }
        sent = { ...sent, pathsSent: sent.pathsSent + 1 };
        opts.onProgress?.(sent);
      }
    },
  };
  return fake;
}
