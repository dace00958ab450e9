export { computeClosure } from "./compute-closure.js";
export type { NixCliOptions } from "./nix-cli.js";
export { canonicalNarHash, encodeNixBase32 } from "./nix-hash.js";
export { parsePathInfoJson } from "./path-info-json.js";
export { type PushProgress, type PushRequestOptions, pushRequests } from "./push-requests.js";
export { fingerprint, parseSecretKey, type SecretKey, signPath, signPaths } from "./sign-paths.js";
export { sortReferencesFirst } from "./topo-sort.js";
export { uploadClosure } from "./upload.js";
