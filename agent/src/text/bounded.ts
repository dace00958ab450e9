/**
 * Bounds for text that echoes a client's input. A status message travels in
 * an HTTP/2 trailer: a 116 k-character one never reached the client and broke
 * its connection, so every message and log line is cut to a known size.
 */
import { cut, quote } from "@ros-rollback/nix-core";

// One implementation of cutting and quoting, shared with nix-core's errors.
export { cut, MAX_QUOTED, quote } from "@ros-rollback/nix-core";

/** Items of a list a message names before "and N more". */
export const LIST_HEAD = 3;
/** Characters of a whole message (status details, log message). */
export const MAX_MESSAGE = 2_000;
/** Bytes of a status message once percent-encoded for its trailer (grpc-js uses encodeURI). */
export const MAX_ENCODED_MESSAGE = 4_096;

const REPLACEMENT = "\uFFFD";

/** "N <noun>s: "a", "b", "c" and N-3 more": a count, then the first few items quoted. */
export function quoteList(items: readonly string[], noun: string, head: number = LIST_HEAD): string {
  const n = items.length;
  const named = items.slice(0, head).map((i) => quote(i));
  const more = n > head ? ` and ${n - head} more` : "";
  return `${n} ${noun}${n === 1 ? "" : "s"}: ${named.join(", ")}${more}`;
}

/**
 * A status message that fits its trailer: at most `maxEncoded` bytes once
 * percent-encoded, cut at a code point, lone surrogates replaced (encodeURI
 * throws on them).
 */
export function boundForTrailer(message: string, maxEncoded: number = MAX_ENCODED_MESSAGE): string {
  const text = cut(message, MAX_MESSAGE);
  const marker = "… (cut)";
  let out = "";
  let size = 0;
  for (const cp of text) {
    const ch = isLoneSurrogate(cp) ? REPLACEMENT : cp;
    const n = encodeURI(ch).length;
    if (size + n > maxEncoded - encodeURI(marker).length) return out + marker;
    out += ch;
    size += n;
  }
  return out;
}

function isLoneSurrogate(cp: string): boolean {
  const c = cp.charCodeAt(0);
  return cp.length === 1 && c >= 0xd800 && c <= 0xdfff;
}
