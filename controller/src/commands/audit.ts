import { terminalText } from "@ros-rollback/nix-core";
import type { AuditEntry, GetAuditLogResponse } from "@ros-rollback/proto";
import { defineCommand } from "../context/command.js";
import { parsePositionals } from "../core/args.js";
import { ExitCode, UsageError } from "../core/errors.js";
import { TARGET_POSITIONAL, targetName } from "../targets/target-arg.js";

const POSITIONALS = [TARGET_POSITIONAL] as const;
const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "2026-12-01T03:00:00Z" or an age ("90s", "15m", "2h", "7d") → Unix ms. */
export function parseSince(text: string, now: number): number {
  const age = /^(\d{1,7})([smhd])$/.exec(text);
  const ms = age === null ? Date.parse(text) : now - Number(age[1]) * (UNITS[age[2] ?? "s"] ?? 1_000);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new UsageError(
      `--since: expected a time (ISO 8601) or an age like 15m, 2h, 7d, got ${JSON.stringify(text.slice(0, 40))}`,
      "audit",
    );
  }
  return ms;
}

function entryJson(e: AuditEntry) {
  let args: unknown;
  try {
    args = e.argsJson === "" ? undefined : JSON.parse(e.argsJson);
  } catch {
    args = e.argsJson.slice(0, 500);
  }
  return {
    time: e.time,
    rpc: e.rpc,
    subject: e.subject,
    fingerprint: e.fingerprint,
    peer: e.peer,
    admission: e.admission,
    role: e.role || undefined,
    outcome: e.outcome || undefined,
    detail: e.detail || undefined,
    args,
  };
}

function auditText(target: string, res: GetAuditLogResponse): string {
  const lines = res.entries.map((e) => {
    const what =
      e.admission === "denied" ? `DENIED (lacks ${e.role})` : e.outcome === "" ? "admitted" : e.outcome;
    const args = e.argsJson === "" || e.argsJson === "{}" ? "" : ` ${e.argsJson}`;
    return terminalText(
      `${e.time}  ${e.rpc.padEnd(16)} ${what.padEnd(18)} ${e.subject} from ${e.peer}${args}`,
    );
  });
  const notes = [
    res.truncated ? "(older entries left out: use --since)" : undefined,
    res.skippedLines > 0 ? `(${res.skippedLines} unreadable line(s) skipped: a torn write)` : undefined,
  ].filter((n) => n !== undefined);
  return [
    `${target}: ${res.entries.length} audit entr${res.entries.length === 1 ? "y" : "ies"}`,
    ...lines,
    ...notes,
  ].join("\n");
}

export const auditCommand = defineCommand<{ readonly target: string | undefined; readonly since: number }>({
  name: "audit",
  summary: "show the robot's audit log: who was refused, who deployed, rolled back, confirmed or held",
  description: [
    "Read-only (role read). Oldest first: every refused call and the admission and outcome of every",
    "mutation, with the client certificate's subject and SHA-256 fingerprint and the peer address.",
    '--json: {"target", "entries": [{"time","rpc","subject","fingerprint","peer","admission","role",',
    '"outcome","detail","args"}], "skippedLines", "truncated"}.',
  ].join("\n"),
  positionals: POSITIONALS,
  options: {
    since: {
      type: "string",
      valueName: "T",
      description: "only entries since T (ISO 8601) or an age: 15m, 2h, 7d",
    },
  },
  examples: ["ros-rollback audit robot1 --since 2h", "ros-rollback audit robot1 --json"],
  parse(raw) {
    const [target] = parsePositionals(raw, POSITIONALS, "audit");
    const since = raw.values.since;
    return { target, since: typeof since === "string" ? parseSince(since, Date.now()) : 0 };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    try {
      const res = await api.getAuditLog({ sinceUnixMs: args.since, limit: 0 }, ctx.signal);
      return {
        exitCode: ExitCode.Ok,
        json: {
          target,
          entries: res.entries.map(entryJson),
          skippedLines: res.skippedLines,
          truncated: res.truncated,
        },
        human: auditText(target, res),
      };
    } finally {
      api.close();
    }
  },
});
