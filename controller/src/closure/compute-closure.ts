import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";
import { type NixCliOptions, nixBin, runNix, storeArgs } from "./nix-cli.js";
import { parsePathInfoJson } from "./path-info-json.js";
import { sortReferencesFirst } from "./topo-sort.js";

/**
 * The closure of `storePath` in the local store, references first, NAR
 * hashes as `sha256:<nix base32>`: the order and form a push needs.
 */
export async function computeClosure(
  storePath: string,
  signal: AbortSignal,
  options: NixCliOptions = {},
): Promise<PathInfo[]> {
  const json = await runNix(
    options,
    [
      nixBin(options, "nix"),
      "--extra-experimental-features",
      "nix-command",
      "path-info",
      ...storeArgs(options),
      "--recursive",
      "--json",
      "--",
      storePath,
    ],
    signal,
  );
  const infos = parsePathInfoJson(json);
  const have = new Set(infos.map((i) => i.storePath));
  for (const info of infos) {
    const missing = info.references.find((r) => !have.has(r));
    if (missing !== undefined) {
      throw new UserError(
        `nix path-info gave an incomplete closure: ${info.storePath} references ${missing}`,
      );
    }
  }
  return sortReferencesFirst(infos);
}
