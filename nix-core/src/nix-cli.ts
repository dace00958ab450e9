import { join } from "node:path";

/** How to reach a local Nix store through the nix CLI. */
export interface NixCliOptions {
  /** Directory holding nix and nix-store; default: found on PATH. */
  readonly nixBinDir?: string;
  /** Passed as `--store` (another local store, e.g. a chroot store in tests); default: Nix's own choice. */
  readonly storeUri?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function nixBin(options: NixCliOptions, name: "nix" | "nix-store"): string {
  return options.nixBinDir === undefined ? name : join(options.nixBinDir, name);
}

export function storeArgs(options: NixCliOptions): string[] {
  return options.storeUri === undefined ? [] : ["--store", options.storeUri];
}
