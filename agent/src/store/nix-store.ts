/** A path ready to be handed to Nix: syntax checked, hash canonical, signature verified. */
export interface ImportPathInfo {
  readonly storePath: string;
  /** Empty if unknown. */
  readonly deriver: string;
  /** `sha256:<nix base32>`. */
  readonly narHash: string;
  readonly narSize: number;
  readonly references: readonly string[];
  readonly signatures: readonly string[];
  /** Content address, empty for input-addressed paths. */
  readonly ca: string;
}

export interface ImportEvents {
  /** Nix registered the path (its bytes hashed to narHash and it is valid now). */
  onImported?(storePath: string): void;
  /** Nix refused the path's NAR (not the bytes its narHash and narSize say); the session fails with HASH_MISMATCH. */
  onRejected?(storePath: string): void;
}

/** The robot's Nix store, as the push receiver needs it. */
export interface NixStore {
  readonly storeDir: string;
  /** The subset of `paths` valid in the store. */
  queryValidPaths(paths: readonly string[], signal: AbortSignal): Promise<Set<string>>;
  /** Starts an import session; every path it registers is reported through `events`. */
  openImport(signal: AbortSignal, events?: ImportEvents): Promise<StoreImport>;
}

/**
 * One import session: paths go in one after another, each as beginPath()
 * then exactly narSize bytes of NAR through writeNar(). Nix registers a path
 * only after all its bytes hashed to its narHash; imports are pipelined, so
 * registration (or nix's refusal of the NAR: HASH_MISMATCH from a later
 * call) is reported later through ImportEvents.
 */
export interface StoreImport {
  /** Validity, answered without waiting for queued imports; the answer's paths are kept from GC until close. */
  queryValid(paths: readonly string[]): Promise<Set<string>>;
  beginPath(info: ImportPathInfo): Promise<void>;
  /** Resolves when the bytes are handed on (backpressure: nix imports at disk speed). */
  writeNar(chunk: Uint8Array): Promise<void>;
  /** No more paths: waits until nix registered all of them; returns the registered paths in order. */
  finish(): Promise<string[]>;
  /** Nix's refusal of a NAR (HASH_MISMATCH) if it refused one, whatever failed first on our side. */
  refusal(): Error | undefined;
  /**
   * Stops: paths whose bytes were all written are still registered, a
   * partly written one is not. `hard` (abort) kills nix instead of letting it
   * finish. Idempotent; returns the registered paths.
   */
  close(hard: boolean): Promise<string[]>;
}
