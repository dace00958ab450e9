import { Metadata, type StatusObject, status } from "@grpc/grpc-js";
import { AGENT_ERROR_CODE_KEY } from "@ros-rollback/proto";
import type { Logger } from "pino";
import { type AgentErrorCode, asAgentError } from "../errors.js";
import { boundForTrailer } from "../text/bounded.js";

const CODE_TO_STATUS: Readonly<Record<AgentErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  UNTRUSTED: status.PERMISSION_DENIED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  HASH_MISMATCH: status.DATA_LOSS,
  CACHE_BAD_NAR: status.DATA_LOSS,
  CACHE_UNAVAILABLE: status.UNAVAILABLE,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  HELD: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  NO_SPACE: status.RESOURCE_EXHAUSTED,
  NOT_FOUND: status.NOT_FOUND,
  EXTERNAL_COMMAND_FAILED: status.INTERNAL,
  ABORTED: status.CANCELLED,
  TIMEOUT: status.DEADLINE_EXCEEDED,
};

/** An error as the status a client sees: code, bounded details, and the agent's own code. */
export interface AgentStatus {
  readonly code: status;
  readonly details: string;
  readonly agentCode: AgentErrorCode | undefined;
}

/**
 * The ONE place where errors become gRPC status (for gRPC and the raw push
 * channel alike). AgentErrors (and, through asAgentError, nix-core's
 * NixFormatErrors) keep their message (it was written for the operator),
 * bounded to fit the trailer whatever it echoes; anything else is a bug: the
 * client gets a generic INTERNAL and the stack goes to the log.
 */
export function agentStatus(thrown: unknown, log: Logger, method: string): AgentStatus {
  const error = asAgentError(thrown);
  if (error !== undefined) {
    const code = CODE_TO_STATUS[error.code];
    const details = boundForTrailer(error.message);
    if (code === status.INTERNAL) log.error({ err: error, method }, details);
    else log.info({ method, code: error.code }, `request refused: ${details}`);
    return { code, details, agentCode: error.code };
  }
  log.error({ err: thrown, method }, "unexpected error in request handler");
  return { code: status.INTERNAL, details: "internal error in the agent; see its log", agentCode: undefined };
}

/** agentStatus as grpc-js takes it: the agent's code in the trailer. */
export function toStatus(thrown: unknown, log: Logger, method: string): Partial<StatusObject> {
  const s = agentStatus(thrown, log, method);
  if (s.agentCode === undefined) return { code: s.code, details: s.details };
  const metadata = new Metadata();
  metadata.set(AGENT_ERROR_CODE_KEY, s.agentCode);
  return { code: s.code, details: s.details, metadata };
}
