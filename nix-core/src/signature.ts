import { sign, verify } from "node:crypto";
import { quote } from "./bounded-text.js";
import { NixFormatError } from "./errors.js";
import type { NixPublicKey, NixSecretKey } from "./keys.js";
import { canonicalNarHash } from "./nar-hash.js";

/** The ValidPathInfo fields a narinfo signature covers. */
export interface SignedFields {
  readonly storePath: string;
  /** Any form parseNarHash accepts; the fingerprint uses `sha256:<base32>`. */
  readonly narHash: string;
  readonly narSize: number;
  /** Full store paths. */
  readonly references: readonly string[];
  readonly signatures: readonly string[];
}

const SIGNATURE_BYTES = 64;

/**
 * What Nix signs: `1;<path>;<sha256:base32 narHash>;<narSize>;<refs, sorted, comma-separated>`.
 * Deriver and content address are not covered, so they must never be trusted.
 */
export function fingerprint(info: Omit<SignedFields, "signatures">): string {
  if (!Number.isSafeInteger(info.narSize) || info.narSize <= 0) {
    throw new NixFormatError("NAR_SIZE", `path ${quote(info.storePath)}: NAR size is not known`);
  }
  const refs = [...info.references].sort();
  return `1;${info.storePath};${canonicalNarHash(info.narHash, info.storePath)};${info.narSize};${refs.join(",")}`;
}

/** `name:base64(ed25519 signature)` over the fingerprint; ed25519 is deterministic, so this equals nix's. */
export function signPath(info: Omit<SignedFields, "signatures">, key: NixSecretKey): string {
  const sig = sign(null, Buffer.from(fingerprint(info)), key.key);
  return `${key.name}:${sig.toString("base64")}`;
}

function splitSignature(text: string): { name: string; sig: Buffer } | undefined {
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  const body = text.slice(colon + 1);
  const sig = Buffer.from(body, "base64");
  if (sig.length !== SIGNATURE_BYTES || sig.toString("base64") !== body) return undefined;
  return { name: text.slice(0, colon), sig };
}

/** True if `text` has the shape Nix accepts for a signature (it refuses to register others). */
export function isWellFormedSignature(text: string): boolean {
  return splitSignature(text) !== undefined;
}

/**
 * Whether a trusted key signed the path. Not trusting a path is a verdict,
 * not a format error: the caller decides what refusing means.
 */
export type SignatureVerdict =
  | { readonly trusted: true; readonly keyName: string }
  | {
      readonly trusted: false;
      /** Names the path and says why (bounded). */
      readonly message: string;
    };

/** Checks the path's signatures against `trustedKeys`; NixFormatError if its hash or size is malformed. */
export function checkPathSignature(
  info: SignedFields,
  trustedKeys: readonly NixPublicKey[],
): SignatureVerdict {
  const path = quote(info.storePath);
  if (info.signatures.length === 0) return { trusted: false, message: `path ${path} is not signed` };
  const data = Buffer.from(fingerprint(info));
  const byTrusted: string[] = [];
  for (const text of info.signatures) {
    const parsed = splitSignature(text);
    if (parsed === undefined) continue;
    for (const key of trustedKeys) {
      if (key.name !== parsed.name) continue;
      byTrusted.push(key.name);
      if (verify(null, data, key.key, parsed.sig)) return { trusted: true, keyName: key.name };
    }
  }
  if (byTrusted.length > 0) {
    return {
      trusted: false,
      message:
        `path ${path}: bad signature by trusted key ${quote(byTrusted.join(", "))} ` +
        "(the path's hash, size or references differ from what was signed)",
    };
  }
  const names = info.signatures.map((s) => s.slice(0, Math.max(0, s.indexOf(":")))).filter((n) => n !== "");
  return {
    trusted: false,
    message: `path ${path} has no signature by a trusted key (signed by: ${quote(names.join(", ") || "nobody")})`,
  };
}
