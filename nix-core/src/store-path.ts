import { NIX_BASE32_ALPHABET } from "./base32.js";
import { quote } from "./bounded-text.js";
import { NixFormatError } from "./errors.js";

export const DEFAULT_STORE_DIR = "/nix/store";

const HASH_PART = new RegExp(`^[${NIX_BASE32_ALPHABET}]{32}$`);
const NAME = /^[A-Za-z0-9+\-._?=]+$/;
/** Nix refuses longer names (the file name must fit with the hash in 255 bytes). */
const MAX_NAME_LENGTH = 211;

/** Why `path` is not a store path of `storeDir`, or undefined if it is one. */
export function storePathProblem(path: string, storeDir: string = DEFAULT_STORE_DIR): string | undefined {
  const prefix = `${storeDir}/`;
  if (!path.startsWith(prefix)) return `not in ${storeDir}`;
  const base = path.slice(prefix.length);
  if (base.includes("\0")) return "contains a NUL byte";
  if (base.includes("/")) return "is not a top-level store path (contains '/')";
  const hash = base.slice(0, 32);
  if (!HASH_PART.test(hash)) return "does not start with a 32-character Nix base-32 hash";
  if (base[32] !== "-") return "has no '-' after the hash";
  const name = base.slice(33);
  if (name.length === 0) return "has an empty name";
  if (name.length > MAX_NAME_LENGTH) return `has a name longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME.test(name)) return "has a name with characters outside [A-Za-z0-9+-._?=]";
  if (name.startsWith(".")) return "has a name starting with '.'";
  if (name.includes("..")) return "has a name containing '..'";
  return undefined;
}

export function isStorePath(path: string, storeDir: string = DEFAULT_STORE_DIR): boolean {
  return storePathProblem(path, storeDir) === undefined;
}

/** Throws NixFormatError(STORE_PATH) naming the path unless it is a store path of `storeDir`. */
export function validateStorePath(path: string, storeDir: string = DEFAULT_STORE_DIR): void {
  const problem = storePathProblem(path, storeDir);
  if (problem !== undefined) {
    throw new NixFormatError("STORE_PATH", `invalid store path ${quote(path)}: ${problem}`);
  }
}
