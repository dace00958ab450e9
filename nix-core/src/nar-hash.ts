import { decodeNixBase32, encodeNixBase32, nixBase32Length } from "./base32.js";
import { quote } from "./bounded-text.js";
import { NixFormatError } from "./errors.js";

const SHA256_BYTES = 32;
const BASE16 = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * The raw sha256 digest of a NAR hash in any form Nix prints: `sha256:<base32>`,
 * `sha256:<base16>`, `sha256:<base64>` or SRI `sha256-<base64>`. Undefined if
 * it is none of them (other algorithms are refused: Nix's NAR hashes are sha256).
 */
export function parseNarHash(text: string): Uint8Array | undefined {
  let body: string;
  if (text.startsWith("sha256:")) body = text.slice("sha256:".length);
  else if (text.startsWith("sha256-")) {
    body = text.slice("sha256-".length);
    return BASE64.test(body) ? new Uint8Array(Buffer.from(body, "base64")) : undefined;
  } else return undefined;
  if (body.length === nixBase32Length(SHA256_BYTES)) return decodeNixBase32(body, SHA256_BYTES);
  if (BASE16.test(body)) return new Uint8Array(Buffer.from(body, "hex"));
  if (BASE64.test(body)) return new Uint8Array(Buffer.from(body, "base64"));
  return undefined;
}

/** `sha256:<nix base32>`: the form narinfo fingerprints (and so signatures) use. */
export function formatNarHash(digest: Uint8Array): string {
  if (digest.length !== SHA256_BYTES) {
    throw new NixFormatError(
      "NAR_HASH",
      `expected a ${SHA256_BYTES}-byte sha256 digest, got ${digest.length}`,
    );
  }
  return `sha256:${encodeNixBase32(digest)}`;
}

/** Parses and re-prints a NAR hash canonically; NixFormatError(NAR_HASH) naming `path` if malformed. */
export function canonicalNarHash(text: string, path: string): string {
  const digest = parseNarHash(text);
  if (digest === undefined) {
    throw new NixFormatError("NAR_HASH", `path ${quote(path)}: malformed NAR hash ${quote(text)}`);
  }
  return formatNarHash(digest);
}
