export { parseTrustedKeys, validateStorePath } from "@ros-rollback/nix-core";
export { type CliStoreOptions, NixCliStore, queryMissingPaths } from "./cli-store.js";
export type { DecompressOptions } from "./decompress.js";
export type { ImportEvents, ImportPathInfo, NixStore, StoreImport } from "./nix-store.js";
export type { PushDeps, PushResult } from "./push-deps.js";
export type { PushObserver, RefusalReason } from "./push-observer.js";
export { receivePush } from "./receive-push.js";
export type { NixCliOptions } from "./serve-process.js";
export { verifyPathSignature } from "./signature.js";
