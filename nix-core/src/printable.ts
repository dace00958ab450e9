/**
 * Control characters (C0, DEL, C1), lone surrogates and bidi overrides: a terminal acts on them
 * (clears the screen, retitles the window, reorders a line), so text from robot software and
 * operators shows them as `\uXXXX` instead.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cs}\u202a-\u202e\u2066-\u2069]/gu;
const ANY_UNPRINTABLE = new RegExp(UNPRINTABLE.source, "u");

/** `text` with every unprintable character written as a `\uXXXX` escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escaped);
}

const escaped = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * Text for a terminal: printable(), except that line breaks and tabs stay (the CLI's multi-line
 * output); carriage returns are escaped (they overwrite a line).
 */
export function terminalText(text: string): string {
  return text.replace(UNPRINTABLE, (c) => (c === "\n" || c === "\t" ? c : escaped(c)));
}

/** Whether `text` has a character printable() would escape. */
export function hasUnprintable(text: string): boolean {
  return ANY_UNPRINTABLE.test(text);
}
