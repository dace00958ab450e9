import { type Logger, pino } from "pino";
import { journaldDestination, type LogTarget } from "./logging/journald.js";

/**
 * pino JSON lines on stdout, or (under systemd, see logging/journald.ts) the
 * same lines as journal entries with structured fields.
 */
export function createLogger(level: string, target?: LogTarget): Logger {
  const options = {
    level,
    base: { service: "ros-rollback-agent" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return target?.kind === "journald" ? pino(options, journaldDestination(target.send)) : pino(options);
}
