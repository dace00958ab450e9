/**
 * Untrusted text inside an error message, bounded: one implementation for
 * nix-core's errors and the agent's status messages (which re-exports it).
 */

/** Characters of one piece of input a message quotes (a store path has up to 255). */
export const MAX_QUOTED = 300;

/** `text` cut to at most `max` code units plus a note saying how much was cut; never splits a surrogate pair. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
}

/** Untrusted text for a message: cut, then JSON-quoted (control bytes and lone surrogates escaped). */
export function quote(text: string, max: number = MAX_QUOTED): string {
  return JSON.stringify(cut(text, max));
}

export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
