/** What the relay logs through; main.ts writes JSON lines, tests collect. */
export interface RelayLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** One JSON line per event on `write` (stdout: journald keeps it under systemd). */
export function jsonLineLog(write: (line: string) => void, now: () => Date = () => new Date()): RelayLog {
  const emit = (level: string) => (fields: Record<string, unknown>, msg: string) =>
    write(`${JSON.stringify({ time: now().toISOString(), level, msg, ...fields })}\n`);
  return { info: emit("info"), warn: emit("warn") };
}

/** Text from a peer (a certificate's name, an error), bounded before it reaches a log line. */
export function bounded(text: string, max = 200): string {
  // Control characters (and the rest of unprintable ASCII) out: one line, no terminal escapes.
  const flat = [...text].map((c) => (c < " " || c === "\u007f" ? "?" : c)).join("");
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
