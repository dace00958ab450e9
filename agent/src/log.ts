import { type Logger, pino } from "pino";

/** JSON lines on stdout (journald picks them up under systemd). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "ros-rollback-agent" }, timestamp: pino.stdTimeFunctions.isoTime });
}
