import { readFile } from "node:fs/promises";
import { parseSecretKey, signPath } from "@ros-rollback/nix-core";
import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";

/**
 * Adds our signature to every path, in memory (the local store is not
 * touched), so an owner can push builds nobody signed. A stale signature by
 * the same key name is replaced. A malformed key or path info throws
 * NixFormatError (core/errors.ts makes it a user error).
 */
export async function signPaths(
  infos: readonly PathInfo[],
  secretKeyFile: string,
  signal?: AbortSignal,
): Promise<PathInfo[]> {
  let text: string;
  try {
    text = await readFile(secretKeyFile, { encoding: "utf8", signal });
  } catch (cause) {
    if (signal?.aborted === true) throw signal.reason;
    throw new UserError(`cannot read secret key ${secretKeyFile}: ${(cause as Error).message}`, { cause });
  }
  const key = parseSecretKey(text, `secret key file ${secretKeyFile}`);
  return infos.map((info) => ({
    ...info,
    signatures: [...info.signatures.filter((s) => !s.startsWith(`${key.name}:`)), signPath(info, key)],
  }));
}
