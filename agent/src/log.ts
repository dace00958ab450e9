import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import { journaldDestination, type LogTarget } from "./logging/journald.js";
import { cut, MAX_MESSAGE } from "./text/bounded.js";

/** Characters of a stack trace in the log (a message is in it, and messages may echo input). */
const MAX_STACK = 4_000;

/**
 * pino JSON lines on stdout, or (under systemd, see logging/journald.ts) the
 * same lines as journal entries with structured fields. Every line is bounded
 * (see boundLogArgs): log calls echo clients' input. `destination` is for tests.
 */
export function createLogger(level: string, target?: LogTarget, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: "ros-rollback-agent" },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: boundedErr },
    hooks: {
      logMethod(args, method) {
        method.apply(this, boundLogArgs(args));
      },
    },
  };
  if (target?.kind === "journald") return pino(options, journaldDestination(target.send));
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * The message and the merging object's string fields cut to MAX_MESSAGE
 * (nested values are left alone). Without a message pino would use the
 * error's, uncut: we pass it cut.
 */
function boundLogArgs<T extends unknown[]>(args: T): T {
  const out = args.map((a) => {
    if (typeof a === "string") return cut(a, MAX_MESSAGE);
    if (typeof a !== "object" || a === null || a instanceof Error || Array.isArray(a)) return a;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) fields[k] = typeof v === "string" ? cut(v, MAX_MESSAGE) : v;
    return fields;
  });
  const first: unknown = args[0];
  const err = first instanceof Error ? first : (first as { err?: unknown } | undefined)?.err;
  if (err instanceof Error && typeof args[1] !== "string") out.splice(1, 0, cut(err.message, MAX_MESSAGE));
  return out as T;
}

/** pino's err serializer with message and stack cut; the stack keeps its frames after a huge message. */
function boundedErr(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { ...pino.stdSerializers.err(e) };
  const head = `${e.name}: ${e.message}`;
  if (typeof out.stack === "string" && out.stack.startsWith(head)) {
    out.stack = `${e.name}: ${cut(e.message, MAX_MESSAGE)}${out.stack.slice(head.length)}`;
  }
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === "string") out[k] = cut(v, k === "stack" ? MAX_STACK : MAX_MESSAGE);
  }
  return out;
}
