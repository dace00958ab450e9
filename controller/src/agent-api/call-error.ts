// Without grpc-js: the rollout and report code import it before (or without) a connection.
import { grpcStatusName } from "@ros-rollback/proto";
import { ExitCode, UserError } from "../core/errors.js";

/** Characters of an agent's status message the one-line error shows. */
const MAX_DETAILS = 2_000;

/** A gRPC call that ended with a non-OK status, as the one line users see. */
export class AgentCallError extends UserError {
  readonly target: string;
  readonly code: number;
  readonly statusName: string;
  readonly details: string;
  /** The agent's own error code (metadata `ros-rollback-error-code`), e.g. "UNTRUSTED". */
  readonly agentCode: string | undefined;

  constructor(
    target: string,
    code: number,
    details: string,
    options?: { cause?: unknown; agentCode?: string | undefined; hint?: string },
  ) {
    const statusName = grpcStatusName(code) ?? `STATUS_${code}`;
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
