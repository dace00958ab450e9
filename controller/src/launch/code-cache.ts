/**
 * V8's code cache for the CLI's bundle (issue 13: start-up CPU). Node 20 has no compile cache for
 * ES modules, so the CLI is one CommonJS file run through `vm.Script`, with the bytecode a
 * previous run of the same command left (one file per command: a `status` compiles other code
 * than a `deploy`). What is cached is only an optimisation: a missing, foreign or damaged cache
 * only means compiling from the source, as without one.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { Script } from "node:vm";

const DIGEST = 32; // sha256 of the cache's bytes, written before them

/** A command's cache file, and the start of the names of every cache of this bundle and Node. */
export interface CacheFile {
  readonly path: string;
  readonly prefix: string;
}

/**
 * Where a command's cache lives, or undefined for none. `bundleId` names the bundle's text (a
 * hash taken when it was built): V8 checks a cache against its own version and flags but, of the
 * source, only its length, so a cache must never meet another bundle's text.
 */
export function cacheFile(
  env: NodeJS.ProcessEnv,
  bundleId: string,
  runtime: string,
  args: readonly string[],
): CacheFile | undefined {
  if (env.ROS_ROLLBACK_CODE_CACHE === "off") return undefined;
  const xdg = env.XDG_CACHE_HOME;
  const home = env.HOME;
  const base = xdg?.startsWith("/") ? xdg : home?.startsWith("/") ? join(home, ".cache") : undefined;
  if (base === undefined) return undefined;
  const first = args[0] ?? "";
  const command =
    args.includes("--help") || args.includes("-h") ? "help" : /^[a-z]{1,16}$/.test(first) ? first : "other";
  const prefix = `${bundleId}-${runtime}-`;
  return { path: join(base, "ros-rollback", "code-cache", `${prefix}${command}.bin`), prefix };
}

/**
 * The cache's bytes if the file is there, whole (its digest matches) and only `uid` could have
 * written it: V8 runs them as code unchecked, so a cache another user could write (a `sudo` keeping
 * the operator's HOME) must never reach it.
 */
export function readCache(file: string, uid: number | undefined = process.geteuid?.()): Buffer | undefined {
  let bytes: Buffer;
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
    bytes = readFileSync(fd);
  } catch {
    return undefined; // none yet, or unreadable: compile from the source
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (bytes.length <= DIGEST) return undefined;
  const data = bytes.subarray(DIGEST);
  const digest = createHash("sha256").update(data).digest();
  return digest.equals(bytes.subarray(0, DIGEST)) ? data : undefined;
}

/**
 * Writes the cache whole or not at all (a temporary file renamed over it: runs may race), and
 * removes the caches of other bundles and Node versions (other prefixes):
 * each is ~0.5 MB, and a rebuilt or updated CLI never reads them again.
 */
export function writeCache(file: CacheFile, data: Buffer, pid: number): void {
  const dir = dirname(file.path);
  const tmp = `${file.path}.${pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, Buffer.concat([createHash("sha256").update(data).digest(), data]), { mode: 0o600 });
    renameSync(tmp, file.path);
    for (const name of readdirSync(dir)) if (!name.startsWith(file.prefix)) removeQuietly(join(dir, name));
  } catch {
    // A read-only or full disk, or no directory: the next run compiles from the source again.
    removeQuietly(tmp);
  }
}

function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Not there, or its directory is not one (`force` covers only the first).
  }
}

/** The compiled CommonJS wrapper of `source`, and whether the next run needs a new cache. */
export function compile(
  source: string,
  filename: string,
  cached: Buffer | undefined,
): { readonly script: Script; readonly stale: boolean } {
  // A CommonJS wrapper as Node's own; the shebang becomes a comment (the line numbers stay).
  const body = source.startsWith("#!") ? `//${source.slice(2)}` : source;
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${body}\n});`;
  const script = new Script(wrapped, { filename, cachedData: cached });
  return { script, stale: cached === undefined || script.cachedDataRejected === true };
}
