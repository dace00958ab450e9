export { type CliStoreOptions, NixCliStore, queryMissingPaths } from "./cli-store.js";
export type { DecompressOptions } from "./decompress.js";
export { canonicalNarHash, formatNarHash, parseNarHash } from "./nar-hash.js";
export { decodeNixBase32, encodeNixBase32 } from "./nix-base32.js";
export {
  formatPublicKey,
  type NixPublicKey,
  type NixSecretKey,
  parsePublicKey,
  parseSecretKey,
  parseTrustedKeys,
} from "./nix-keys.js";
export type { ImportEvents, ImportPathInfo, NixStore, StoreImport } from "./nix-store.js";
export type { PushObserver, RefusalReason } from "./push-observer.js";
export { type PushDeps, type PushResult, receivePush } from "./receive-push.js";
export type { NixCliOptions } from "./serve-process.js";
export { fingerprint, type SignedFields, signPath, verifyPathSignature } from "./signature.js";
export { DEFAULT_STORE_DIR, isStorePath, storePathProblem, validateStorePath } from "./store-path.js";
