import { createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";
import { canonicalNarHash } from "./nix-hash.js";

export interface SecretKey {
  readonly name: string;
  readonly key: KeyObject;
}

/** A Nix secret key (`name:base64(seed ‖ public key)`, from `nix-store --generate-binary-cache-key`). */
export function parseSecretKey(text: string, source = "secret key"): SecretKey {
  const t = text.trim();
  const colon = t.indexOf(":");
  const bytes = Buffer.from(t.slice(colon + 1), "base64");
  // The key text is never echoed: it is a secret.
  if (colon <= 0 || bytes.length !== 64 || bytes.toString("base64") !== t.slice(colon + 1)) {
    throw new UserError(`${source} is not a Nix secret key (name:base64 of 64 bytes)`);
  }
  const x = bytes.subarray(32).toString("base64url");
  const key = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: bytes.subarray(0, 32).toString("base64url"), x },
    format: "jwk",
  });
  if (createPublicKey(key).export({ format: "jwk" }).x !== x) throw new UserError(`${source} is corrupt`);
  return { name: t.slice(0, colon), key };
}

/** What Nix signs: `1;<path>;<sha256:base32 narHash>;<narSize>;<sorted comma-separated references>`. */
export function fingerprint(info: PathInfo): string {
  const hash = canonicalNarHash(info.narHash);
  if (hash === undefined) throw new UserError(`${info.storePath} has a malformed NAR hash ${info.narHash}`);
  return `1;${info.storePath};${hash};${info.narSize};${[...info.references].sort().join(",")}`;
}

export function signPath(info: PathInfo, key: SecretKey): string {
  return `${key.name}:${sign(null, Buffer.from(fingerprint(info)), key.key).toString("base64")}`;
}

/**
 * Adds our signature to every path, in memory (the local store is not
 * touched), so an owner can push builds nobody signed. A stale signature by
 * the same key name is replaced.
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
