/**
 * Every failure the agent reports on purpose is an AgentError with a code.
 * The server maps codes to gRPC status in ONE place (server/status.ts);
 * anything else is a bug and becomes INTERNAL with a generic message.
 */
export type AgentErrorCode =
  /** The request itself is malformed (bad store path, unknown action, ...). */
  | "INVALID_ARGUMENT"
  /** A path's signature is missing or not by a trusted key. */
  | "UNTRUSTED"
  /** A path's bytes do not match its announced NAR hash or size. */
  | "HASH_MISMATCH"
  /** The robot is not in a state that allows the request (deployment running, lock held). */
  | "FAILED_PRECONDITION"
  /** A limit on concurrent work is reached (pushes at once); retrying later may succeed. */
  | "RESOURCE_EXHAUSTED"
  /** A referenced store path or generation does not exist. */
  | "NOT_FOUND"
  /** An external command (nix, systemd) failed. */
  | "EXTERNAL_COMMAND_FAILED"
  /** The operation was aborted (client went away, shutdown). */
  | "ABORTED"
  /** A deadline passed. */
  | "TIMEOUT";

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
  }
}

export function isAgentError(e: unknown): e is AgentError {
  return e instanceof AgentError;
}
