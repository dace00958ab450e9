import * as grpc from "@grpc/grpc-js";
import { AGENT_ERROR_CODE_KEY } from "@ros-rollback/proto";
import { ExitCode, UserError } from "../core/errors.js";

/** Characters of an agent's status message the one-line error shows. */
const MAX_DETAILS = 2_000;

/** A gRPC call that ended with a non-OK status, as the one line users see. */
export class AgentCallError extends UserError {
  readonly target: string;
  readonly code: grpc.status;
  readonly statusName: string;
  readonly details: string;
  /** The agent's own error code (metadata `ros-rollback-error-code`), e.g. "UNTRUSTED". */
  readonly agentCode: string | undefined;

  constructor(
    target: string,
    code: grpc.status,
    details: string,
    options?: { cause?: unknown; agentCode?: string | undefined; hint?: string },
  ) {
    const statusName = grpc.status[code] ?? `STATUS_${code}`;
    const hint = options?.hint === undefined ? "" : ` (${options.hint})`;
    // One line for the operator even if an (older) agent echoes a huge input.
    const shown = details.length > MAX_DETAILS ? `${details.slice(0, MAX_DETAILS)}… (cut)` : details;
    super(`${target}: ${statusName}: ${shown || "(no details)"}${hint}`, {
      exitCode: ExitCode.Unchanged,
      cause: options?.cause,
      data: { target, status: statusName, details, agentCode: options?.agentCode ?? null },
    });
    this.name = "AgentCallError";
    this.target = target;
    this.code = code;
    this.statusName = statusName;
    this.details = details;
    this.agentCode = options?.agentCode;
  }

  /** The same error with a hint for the user appended to the message. */
  withHint(hint: string): AgentCallError {
    return new AgentCallError(this.target, this.code, this.details, {
      cause: this.cause,
      agentCode: this.agentCode,
      hint,
    });
  }
}

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return (
    e instanceof Error &&
    "code" in e &&
    typeof e.code === "number" &&
    "details" in e &&
    "metadata" in e &&
    e.metadata instanceof grpc.Metadata
  );
}

/** ServiceError → AgentCallError; anything else passes through untouched (a bug, or already a UserError). */
export function toAgentCallError(target: string, e: unknown): unknown {
  if (!isServiceError(e)) return e;
  const agentCode = e.metadata.get(AGENT_ERROR_CODE_KEY)[0];
  return new AgentCallError(target, e.code, e.details, {
    cause: e,
    agentCode: typeof agentCode === "string" ? agentCode : undefined,
  });
}
