/** What was malformed. Each side maps these ONCE (agent: server/status.ts; controller: core/errors.ts). */
export type NixFormatErrorCode =
  /** Not a store path (of the expected store directory). */
  | "STORE_PATH"
  /** A NAR hash in none of the forms Nix prints, or a digest of the wrong length. */
  | "NAR_HASH"
  /** A NAR size that is not a positive safe integer. */
  | "NAR_SIZE"
  /** A public or secret key that is not `name:base64` of the right length, or is corrupt. */
  | "KEY"
  /** A serve/worker protocol value out of bounds. */
  | "WIRE"
  /** The serve/worker protocol stream ended before a complete value. */
  | "END_OF_STREAM";

/**
 * The one error nix-core throws for malformed Nix data. Its message names
 * the input (bounded by quote()) but never a secret key's text.
 */
export class NixFormatError extends Error {
  readonly code: NixFormatErrorCode;

  constructor(code: NixFormatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NixFormatError";
    this.code = code;
  }
}

export function isNixFormatError(e: unknown): e is NixFormatError {
  return e instanceof NixFormatError;
}
