export { computeClosure } from "./compute-closure.js";
export type { NixCliOptions } from "./nix-cli.js";
export { parsePathInfoJson } from "./path-info-json.js";
export { signPaths } from "./sign-paths.js";
export { sortReferencesFirst } from "./topo-sort.js";
export { uploadClosure } from "./upload.js";
