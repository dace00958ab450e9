import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import type { ClosureOps } from "../closure/port.js";
import type { PushProgress } from "../transfer/transfer.js";

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
 * bytes of `narSize`. `beforeChunk` lets a test stall or fail the push;
 * `autoSwitchesAfter`: an auto push reports going uncompressed after that many
 * paths, as if the link probe found the link faster than zstd (same stream).
 */
export function fakeClosure(
  closure: PathInfo[],
  options: {
    beforeChunk?: (signal: AbortSignal) => Promise<void>;
    chunkSize?: number;
    autoSwitchesAfter?: number;
  } = {},
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
    pushRequests(infos, opts, signal) {
      // auto: the fake's zero bytes compress, so zstd.
      const compression = opts.compression === "auto" ? Compression.COMPRESSION_ZSTD : opts.compression;
      if (opts.compression === "auto")
        opts.onCompression?.({ compression: Compression.COMPRESSION_ZSTD, why: "fake: zeros compress" });
      fake.pushed.push({ infos, compression });
      const chunkSize = options.chunkSize ?? 64 * 1024;
      const at = new WeakMap<PushPathsRequest, PushProgress>();
      const switchAfter = opts.compression === "auto" ? options.autoSwitchesAfter : undefined;
      async function* messages(): AsyncGenerator<PushPathsRequest> {
        let sent: PushProgress = {
          bytesSent: 0,
          bytesTotal: infos.reduce((s, p) => s + p.narSize, 0),
          pathsSent: 0,
          pathsTotal: infos.length,
          wireBytesSent: 0,
        };
        yield { item: { $case: "options", value: { compression, totalNarSize: sent.bytesTotal } } };
        for (const [i, info] of infos.entries()) {
          if (i === switchAfter)
            opts.onCompression?.({
              compression: Compression.COMPRESSION_NONE,
              why: "fake: the link outruns zstd",
            });
          yield { item: { $case: "path", value: info } };
          for (let off = 0; off < info.narSize; off += chunkSize) {
            await options.beforeChunk?.(signal);
            signal.throwIfAborted();
            const n = Math.min(chunkSize, info.narSize - off);
            const last = off + n >= info.narSize;
            sent = {
              ...sent,
              bytesSent: sent.bytesSent + n,
              wireBytesSent: sent.bytesSent + n,
              pathsSent: sent.pathsSent + (last ? 1 : 0),
            };
            const m: PushPathsRequest = { item: { $case: "chunk", value: { data: Buffer.alloc(n) } } };
            at.set(m, sent);
            yield m;
          }
        }
      }
      return Object.assign(messages(), {
        written: (m: PushPathsRequest) => {
          const p = at.get(m);
          if (p !== undefined) opts.onProgress?.(p);
        },
      });
    },
  };
  return fake;
}
