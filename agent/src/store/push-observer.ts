/** Why a pushed path was refused, for metrics labels. */
export type RefusalReason = "invalid" | "missing_reference" | "untrusted" | "hash_mismatch";

/** Progress and metrics of a push; every method is optional and must not throw. */
export interface PushObserver {
  /** Bytes of the request stream's NarChunks as received (compressed, if the push is). */
  wireBytes?(count: number): void;
  /** NAR bytes read from the stream (after decompression). */
  narBytes?(count: number): void;
  /** Nix registered the path. */
  pathImported?(storePath: string, narSize: number): void;
  /** The path was valid already; its bytes were read and dropped. */
  pathSkipped?(storePath: string): void;
  pathRefused?(storePath: string, reason: RefusalReason): void;
}
