import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { quote } from "./bounded-text.js";
import { NixFormatError } from "./errors.js";

/** A key from `trusted-public-keys`: `name:base64(32-byte ed25519 public key)`. */
export interface NixPublicKey {
  readonly name: string;
  readonly key: KeyObject;
}

/** A key from `nix-store --generate-binary-cache-key`: `name:base64(seed ‖ public key)` (libsodium layout). */
export interface NixSecretKey {
  readonly name: string;
  readonly key: KeyObject;
  readonly publicKey: NixPublicKey;
}

const PUBLIC_BYTES = 32;
const SECRET_BYTES = 64;

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** `source: ` before a message, when the caller said where the key came from (e.g. a file name). */
function from(source: string | undefined): string {
  return source === undefined ? "" : `${source}: `;
}

/** Splits at the first ':' like Nix does, decoding the base64 half strictly. */
function splitKey(text: string, what: string, source: string | undefined): { name: string; bytes: Buffer } {
  const colon = text.indexOf(":");
  const name = colon > 0 ? text.slice(0, colon) : "";
  const body = colon > 0 ? text.slice(colon + 1).trim() : "";
  const bytes = Buffer.from(body, "base64");
  // Buffer.from ignores junk silently; re-encoding catches it.
  if (name === "" || body === "" || bytes.toString("base64") !== body) {
    throw new NixFormatError("KEY", `${from(source)}malformed Nix ${what} (expected name:base64)`);
  }
  return { name, bytes };
}

export function publicKeyFromRaw(name: string, raw: Uint8Array): NixPublicKey {
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(raw) }, format: "jwk" });
  return { name, key };
}

export function parsePublicKey(text: string, source?: string): NixPublicKey {
  const { name, bytes } = splitKey(text.trim(), "public key", source);
  if (bytes.length !== PUBLIC_BYTES) {
    throw new NixFormatError(
      "KEY",
      `${from(source)}Nix public key ${quote(name)} is not ${PUBLIC_BYTES} bytes`,
    );
  }
  return publicKeyFromRaw(name, bytes);
}

/** Parses every configured trusted key; one malformed key is a configuration error. */
export function parseTrustedKeys(texts: readonly string[]): NixPublicKey[] {
  return texts.map((t) => parsePublicKey(t));
}

/** `source` (e.g. `secret key file /x`) prefixes messages; the key's text is never echoed: it is a secret. */
export function parseSecretKey(text: string, source?: string): NixSecretKey {
  const { name, bytes } = splitKey(text.trim(), "secret key", source);
  if (bytes.length !== SECRET_BYTES) {
    throw new NixFormatError(
      "KEY",
      `${from(source)}Nix secret key ${quote(name)} is not ${SECRET_BYTES} bytes`,
    );
  }
  const seed = bytes.subarray(0, 32);
  const pub = bytes.subarray(32);
  const key = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: b64url(seed), x: b64url(pub) },
    format: "jwk",
  });
  // A key file whose halves disagree would sign with one key and claim another.
  const derived = createPublicKey(key).export({ format: "jwk" }).x;
  if (derived !== b64url(pub)) {
    throw new NixFormatError("KEY", `${from(source)}Nix secret key ${quote(name)} is corrupt`);
  }
  return { name, key, publicKey: publicKeyFromRaw(name, pub) };
}

/** The `name:base64` text of a public key, as `trusted-public-keys` lists it. */
export function formatPublicKey(key: NixPublicKey): string {
  const x = key.key.export({ format: "jwk" }).x;
  if (x === undefined) throw new Error("not an ed25519 public key");
  return `${key.name}:${Buffer.from(x, "base64url").toString("base64")}`;
}
