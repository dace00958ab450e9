/**
 * Nix's base-32: its own alphabet (no e, o, t, u) and its own bit order — the
 * last character holds the lowest bits of the first byte, so this is NOT RFC
 * 4648 base32 and no library does it.
 */
export const NIX_BASE32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

const DIGIT = new Map<string, number>([...NIX_BASE32_ALPHABET].map((c, i) => [c, i]));

/** Length of the base-32 text for `bytes` bytes (52 for sha256, 32 for a store path hash). */
export function nixBase32Length(bytes: number): number {
  return Math.floor((bytes * 8 - 1) / 5) + 1;
}

export function encodeNixBase32(bytes: Uint8Array): string {
  const len = nixBase32Length(bytes.length);
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    const lo = (bytes[i] ?? 0) >> j;
    const hi = i + 1 < bytes.length ? (bytes[i + 1] ?? 0) << (8 - j) : 0;
    out += NIX_BASE32_ALPHABET[(lo | hi) & 0x1f];
  }
  return out;
}

/**
 * Decodes into `size` bytes. Returns undefined for a bad character or for
 * bits that do not fit, which Nix refuses too (so every digest has exactly
 * one textual form).
 */
export function decodeNixBase32(text: string, size: number): Uint8Array | undefined {
  if (text.length !== nixBase32Length(size)) return undefined;
  const out = new Uint8Array(size);
  for (let n = 0; n < text.length; n++) {
    const digit = DIGIT.get(text[text.length - n - 1] ?? "");
    if (digit === undefined) return undefined;
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    out[i] = (out[i] ?? 0) | ((digit << j) & 0xff);
    const carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1] = (out[i + 1] ?? 0) | carry;
    else if (carry !== 0) return undefined;
  }
  return out;
}
