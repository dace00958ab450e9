import { type NixCliOptions, nixBin, runNix, storeArgs } from "./nix-cli.js";

/**
 * Copies the closure of `storePath` to a binary cache (any store URI
 * `nix copy --to` accepts), signing each narinfo with `secretKeyFile` on the
 * way (the store's `secret-key` parameter) so robots that trust the key
 * accept it. Paths the cache has already are skipped by Nix.
 */
export async function uploadClosure(
  storePath: string,
  storeUri: string,
  secretKeyFile: string | undefined,
  signal: AbortSignal,
  options: NixCliOptions = {},
): Promise<void> {
  const to =
    secretKeyFile === undefined
      ? storeUri
      : `${storeUri}${storeUri.includes("?") ? "&" : "?"}secret-key=${encodeURIComponent(secretKeyFile)}`;
  await runNix(
    options,
    [
      nixBin(options, "nix"),
      ...["--extra-experimental-features", "nix-command"],
      ...storeArgs(options),
      "copy",
      ...["--to", to],
      storePath,
    ],
    signal,
  );
}
