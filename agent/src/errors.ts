import { isNixFormatError, type NixFormatErrorCode } from "@ros-rollback/nix-core";
import type { HELD_ERROR_CODE } from "@ros-rollback/proto";

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
  /** The caller's certificate lacks the role the request needs (access rules). */
  | "PERMISSION_DENIED"
  /** A path's bytes do not match its announced NAR hash or size. */
  | "HASH_MISMATCH"
  /**
   * A cache's narinfo promised a NAR that the cache did not deliver intact: missing,
   * redirected elsewhere, cut short, not decompressible, or not the signed hash.
   */
  | "CACHE_BAD_NAR"
  /** A cache stopped answering (or stalled) while a NAR was fetched from it. */
  | "CACHE_UNAVAILABLE"
  /** The robot is not in a state that allows the request (deployment running, lock held). */
  | "FAILED_PRECONDITION"
  /** The robot is held (mission, operator's hold): FAILED_PRECONDITION that a controller may wait out. */
  | typeof HELD_ERROR_CODE
  /** A limit is reached (pushes at once, disk space for data snapshots); retrying later may succeed. */
  | "RESOURCE_EXHAUSTED"
  /** The store's filesystem would keep less than the reserve after a transfer, even after collecting. */
  | "NO_SPACE"
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

/** Malformed Nix data in a request or config is the caller's; garbage on nix's own pipe is nix failing. */
const NIX_FORMAT_CODE: Readonly<Record<NixFormatErrorCode, AgentErrorCode>> = {
  STORE_PATH: "INVALID_ARGUMENT",
  NAR_HASH: "INVALID_ARGUMENT",
  NAR_SIZE: "INVALID_ARGUMENT",
  KEY: "INVALID_ARGUMENT",
  WIRE: "EXTERNAL_COMMAND_FAILED",
  END_OF_STREAM: "EXTERNAL_COMMAND_FAILED",
};

/**
 * THE mapping of errors we expect from our libraries (nix-core's
 * NixFormatError) to AgentErrors; undefined for anything else (a bug).
 * server/status.ts and main.ts's exit path ask this, never instanceof.
 */
export function asAgentError(e: unknown): AgentError | undefined {
  if (isAgentError(e)) return e;
  if (isNixFormatError(e)) return new AgentError(NIX_FORMAT_CODE[e.code], e.message, { cause: e });
  return undefined;
}

/**
 * The agent cannot start with what it was given: its config, TLS files, state
 * directory or deployment record. Never a gRPC error: main prints the one-line
 * message (which names the file) and exits with `exitCode`.
 *
 * - `CONFIG` (78, EX_CONFIG): wrong until an operator acts; the units do not restart on it.
 * - `NOT_YET` (75, EX_TEMPFAIL): a file not there yet (a new robot before its TLS files are
 *   installed); the unit retries.
 */
export type StartupErrorCode = "CONFIG" | "NOT_YET";

export const STARTUP_EXIT_CODES: Readonly<Record<StartupErrorCode, number>> = { CONFIG: 78, NOT_YET: 75 };

export class StartupError extends Error {
  readonly code: StartupErrorCode;

  constructor(code: StartupErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StartupError";
    this.code = code;
  }

  get exitCode(): number {
    return STARTUP_EXIT_CODES[this.code];
  }
}

export function isStartupError(e: unknown): e is StartupError {
  return e instanceof StartupError;
}
