import { fstatSync, statSync } from "node:fs";
import { createRequire } from "node:module";

/** journald's native socket: one datagram per entry (Node cannot open it; the addon can). */
export const JOURNAL_SOCKET = "/run/systemd/journal/socket";

/** Sends one entry; `fields` are journald field names (A-Z, 0-9, _) with string values. */
export type JournalSend = (
  priority: number,
  message: string,
  fields: Readonly<Record<string, string>>,
) => void;

export type LogTarget =
  | { readonly kind: "journald"; readonly send: JournalSend }
  | { readonly kind: "stdout"; readonly why: string };

export interface DetectDeps {
  readonly env: NodeJS.ProcessEnv;
  /** "dev:ino" of an open fd, as JOURNAL_STREAM spells it; undefined when fd is not open. */
  readonly fdIdentity: (fd: number) => string | undefined;
  readonly isSocket: (path: string) => boolean;
  /** Loads the native sender; throws when the optional addon is missing or not built. */
  readonly load: () => JournalSend;
}

/**
 * journald natively only when it surely listens: systemd connected our stdout
 * or stderr to the journal (JOURNAL_STREAM names that very stream, so a child
 * that inherited the variable is not fooled), the native socket exists (the
 * addon drops entries SILENTLY when it does not), and the addon loads.
 * Otherwise pino's JSON lines on stdout, which journald also stores (as text).
 */
export function detectLogTarget(deps: DetectDeps): LogTarget {
  const stream = deps.env.JOURNAL_STREAM;
  if (stream === undefined || stream === "")
    return { kind: "stdout", why: "not started by systemd (no JOURNAL_STREAM)" };
  if (deps.fdIdentity(2) !== stream && deps.fdIdentity(1) !== stream)
    return { kind: "stdout", why: "stdout and stderr are not the journal stream JOURNAL_STREAM names" };
  if (!deps.isSocket(JOURNAL_SOCKET)) return { kind: "stdout", why: `${JOURNAL_SOCKET} is not a socket` };
  try {
    return { kind: "journald", send: deps.load() };
  } catch (e) {
    return { kind: "stdout", why: `the systemd-journald addon is not usable: ${(e as Error).message}` };
  }
}

const PRIORITY_NAMES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"] as const;
type JournaldModule = Record<(typeof PRIORITY_NAMES)[number], (message: string, fields: object) => void>;

/** The systemd-journald addon (optional dependency; needs libsystemd to build). */
export function loadJournaldAddon(): JournalSend {
  const require = createRequire(import.meta.url);
  const mod = require("systemd-journald") as JournaldModule;
  return (priority, message, fields) => {
    const name = PRIORITY_NAMES[Math.min(7, Math.max(0, priority))] ?? "info";
    mod[name](message, fields);
  };
}

export const realDetectDeps: DetectDeps = {
  env: process.env,
  fdIdentity: (fd) => {
    try {
      const s = fstatSync(fd, { bigint: true });
      return `${s.dev}:${s.ino}`;
    } catch {
      return undefined;
    }
  },
  isSocket: (path) => {
    try {
      return statSync(path).isSocket();
    } catch {
      return false;
    }
  },
  load: loadJournaldAddon,
};

/** syslog priority of a pino level: fatal→crit, error→err, warn→warning, info→info, debug/trace→debug. */
export function priorityOf(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** pino's own keys; the rest of a log line becomes fields. */
const PINO_KEYS = new Set(["level", "time", "msg", "service", "pid", "hostname"]);
/** Fields journald or we set; a log key of the same name is kept under LOG_<NAME>. */
const RESERVED = new Set(["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_PID"]);

function snake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9_]/g, "_")
    .toUpperCase();
}

/** `deploymentId` → `DEPLOYMENT_ID`; anything journald would refuse becomes `_`. */
export function fieldName(key: string): string {
  const s = snake(key);
  const name = /^[A-Z]/.test(s) ? s : `F${s.startsWith("_") ? "" : "_"}${s}`;
  return (RESERVED.has(name) ? `LOG_${name}` : name).slice(0, 64);
}

function addFields(out: Record<string, string>, prefix: string, value: unknown, depth: number): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object") {
    out[prefix] = String(value);
  } else if (Array.isArray(value) || depth >= 3) {
    out[prefix] = JSON.stringify(value);
  } else {
    for (const [k, v] of Object.entries(value))
      addFields(out, `${prefix}_${snake(k)}`.slice(0, 64), v, depth + 1);
  }
}

/**
 * One pino JSON line as a journal entry: PRIORITY from the level,
 * SYSLOG_IDENTIFIER from `service`, every other key as a field
 * (`deploymentId` → DEPLOYMENT_ID, `generation` → GENERATION, `check` →
 * CHECK, `err.message` → ERR_MESSAGE).
 */
export function journalEntry(line: string): {
  priority: number;
  message: string;
  fields: Record<string, string>;
} {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { priority: 6, message: line.trimEnd(), fields: {} };
  }
  const fields: Record<string, string> = {};
  if (typeof obj.service === "string") fields.SYSLOG_IDENTIFIER = obj.service;
  for (const [k, v] of Object.entries(obj)) {
    if (!PINO_KEYS.has(k)) addFields(fields, fieldName(k), v, 0);
  }
  const err = obj.err as { message?: unknown } | undefined;
  const message = typeof obj.msg === "string" ? obj.msg : typeof err?.message === "string" ? err.message : "";
  return { priority: priorityOf(typeof obj.level === "number" ? obj.level : 30), message, fields };
}

/** A pino destination that sends every line to journald. A send that throws falls back to stdout for that line. */
export function journaldDestination(send: JournalSend): { write(line: string): void } {
  return {
    write(line: string) {
      const e = journalEntry(line);
      try {
        send(e.priority, e.message, e.fields);
      } catch {
        process.stdout.write(line);
      }
    },
  };
}
