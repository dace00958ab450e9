export { decodeNixBase32, encodeNixBase32, NIX_BASE32_ALPHABET, nixBase32Length } from "./base32.js";
export { cut, MAX_QUOTED, quote } from "./bounded-text.js";
export { isNixFormatError, NixFormatError, type NixFormatErrorCode } from "./errors.js";
export {
  formatPublicKey,
  type NixPublicKey,
  type NixSecretKey,
  parsePublicKey,
  parseSecretKey,
  parseTrustedKeys,
  publicKeyFromRaw,
} from "./keys.js";
export {
  dumpNar,
  isNarDumpError,
  NarDumpError,
  type NarDumpErrorCode,
  type NarDumpOptions,
} from "./nar-dump.js";
export { canonicalNarHash, formatNarHash, parseNarHash } from "./nar-hash.js";
export { type NixCliOptions, nixBin, storeArgs } from "./nix-cli.js";
export { hasUnprintable, printable, terminalText } from "./printable.js";
export { SERVE_CLIENT_VERSION, SERVE_MAGIC_1, SERVE_MAGIC_2, ServeCommand } from "./serve-protocol.js";
export {
  checkPathSignature,
  fingerprint,
  isWellFormedSignature,
  type SignatureVerdict,
  type SignedFields,
  signPath,
} from "./signature.js";
export { DEFAULT_STORE_DIR, isStorePath, storePathProblem, validateStorePath } from "./store-path.js";
export { ByteReader, isEndOfStream, str, strs, u64 } from "./wire.js";
export { SinkClosed, writeTo } from "./write-to.js";
