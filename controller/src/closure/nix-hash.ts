/**
 * The two bits of Nix's hash text the controller needs: Nix base-32
 * encoding (its own alphabet and bit order) and NAR hash canonicalisation.
 * The agent has the full set (decode, validation) in agent/src/store.
 */
const ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";
const BASE32_SHA256 = new RegExp(`^[${ALPHABET}]{52}$`);
const BASE16 = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

export function encodeNixBase32(bytes: Uint8Array): string {
  const len = Math.floor((bytes.length * 8 - 1) / 5) + 1;
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const i = Math.floor((n * 5) / 8);
    const j = (n * 5) % 8;
    const lo = (bytes[i] ?? 0) >> j;
    const hi = i + 1 < bytes.length ? (bytes[i + 1] ?? 0) << (8 - j) : 0;
    out += ALPHABET[(lo | hi) & 0x1f];
  }
  return out;
}

/**
 * `sha256:<nix base32>` for any form Nix prints a NAR hash in (SRI
 * `sha256-<base64>`, `sha256:<base32|base16|base64>`); undefined otherwise.
 * Signatures cover this form, so everything we sign or compare uses it.
 */
export function canonicalNarHash(text: string): string | undefined {
  if (text.startsWith("sha256-")) {
    const body = text.slice("sha256-".length);
    return BASE64.test(body) ? `sha256:${encodeNixBase32(Buffer.from(body, "base64"))}` : undefined;
  }
  if (!text.startsWith("sha256:")) return undefined;
  const body = text.slice("sha256:".length);
  // A 52-character base-32 text could still carry a stray top bit; nix refuses those, so do we (via the agent).
  if (BASE32_SHA256.test(body)) return text;
  if (BASE16.test(body)) return `sha256:${encodeNixBase32(Buffer.from(body, "hex"))}`;
  if (BASE64.test(body)) return `sha256:${encodeNixBase32(Buffer.from(body, "base64"))}`;
  return undefined;
}
