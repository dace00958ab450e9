import { createHash, type Hash } from "node:crypto";
import { isAbsolute } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { dumpNar, isNarDumpError, type NixCliOptions, parseNarHash } from "@ros-rollback/nix-core";
import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";
import { serveNars } from "./serve-nars.js";

/** A piece of the NAR of `infos[index]`; `last` on its final piece. */
export interface NarPiece {
  readonly index: number;
  readonly data: Buffer;
  readonly last: boolean;
}

export interface NarSourceOptions {
  /** "serve": always through `nix-store --serve`; default "auto" (below). */
  readonly from?: "auto" | "serve";
  /** Called once if the filesystem could not be read and the rest comes through `nix-store --serve`. */
  readonly onFallback?: (why: string) => void;
  /** The filesystem reader; default nix-core's dumpNar (tests wrap it to inject a failure). */
  readonly dump?: typeof dumpNar;
}

const MAX_PIECE = 128 * 1024;
/**
 * Reading files is synchronous: without a turn of the event loop now and then, a consumer that
 * never waits (a socket with room) would starve timers, signals and, in one process, the other
 * end. Every path and every MiB gets one, as the serve pipe's reads gave them.
 */
const TURN_BYTES = 1024 * 1024;

/**
 * Where the files of `options`' store are: the store path itself for the
 * default store, under the root for a chroot store (`--store /dir`);
 * undefined for any other store URI (the daemon's socket, ssh://…, a
 * binary cache), which only nix can read.
 */
function realRoot(options: NixCliOptions): string | undefined {
  if (options.storeUri === undefined) return "";
  return isAbsolute(options.storeUri) ? options.storeUri.replace(/\/+$/, "") : undefined;
}

const mismatch = (info: PathInfo, why?: string) =>
  new UserError(
    `${info.storePath} in the local store no longer matches its NAR hash${why ? ` (${why})` : ""}; run nix-store --verify --check-contents`,
  );

/** Hashes one path's NAR as it passes; `end` says whether all of it was exactly what `info` records. */
class Check {
  private readonly hash: Hash = createHash("sha256");
  bytes = 0;

  constructor(private readonly info: PathInfo) {}

  /** False if `data` would run past the recorded size. */
  add(data: Buffer): boolean {
    if (this.bytes + data.length > this.info.narSize) return false;
    this.bytes += data.length;
    this.hash.update(data);
    return true;
  }

  get complete(): boolean {
    return this.bytes === this.info.narSize;
  }

  matches(): boolean {
    const expected = parseNarHash(this.info.narHash);
    return expected !== undefined && this.hash.digest().equals(expected);
  }
}

/**
 * The NARs of `infos`, in order, in pieces of at most 128 KiB. From a local
 * store's filesystem (nix-core's dumpNar): no process to pipe every byte
 * through. If a path cannot be read there (permission denied, or the store
 * path itself is missing where we look), that path and all after it come
 * from ONE `nix-store --serve`, which skips what was already yielded of it.
 * Neither takes a GC root: `nix-store --serve` does not either, and the
 * hash check below turns a path collected mid-push into a failed push,
 * never a wrong one. Each NAR is hashed as it streams and its last piece is
 * withheld unless it is exactly the recorded size and hash: corruption (or
 * a serialiser bug) must not spread.
 */
export async function* readNars(
  infos: readonly PathInfo[],
  options: NixCliOptions,
  signal: AbortSignal,
  source: NarSourceOptions = {},
): AsyncGenerator<NarPiece> {
  signal.throwIfAborted();
  const root = source.from === "serve" ? undefined : realRoot(options);
  let served: AsyncGenerator<{ index: number; data: Buffer }> | undefined;
  try {
    for (let index = 0; index < infos.length; index++) {
      const info = infos[index] as PathInfo;
      const check = new Check(info);
      if (served === undefined && root !== undefined) {
        const dump = (source.dump ?? dumpNar)(root + info.storePath, { pieceSize: MAX_PIECE });
        const why = yield* fromFilesystem(index, info, dump, root + info.storePath, check, signal);
        if (why === undefined) continue;
        source.onFallback?.(why);
        served = serveNars(infos.slice(index), options, MAX_PIECE, signal);
      }
      served ??= serveNars(infos, options, MAX_PIECE, signal);
      // The filesystem's bytes already yielded (all hashed) are skipped, the rest checked on.
      let skip = check.bytes;
      while (!check.complete) {
        const r = await served.next();
        if (r.done === true) throw new Error(`nix-store --serve ended before ${info.storePath}`);
        const data = r.value.data.subarray(Math.min(skip, r.value.data.length));
        skip -= r.value.data.length - data.length;
        if (data.length === 0) continue;
        check.add(data);
        if (check.complete && !check.matches()) throw mismatch(info);
        yield { index, data, last: check.complete };
      }
    }
    // Lets nix-store --serve report a bad exit.
    if (served !== undefined && (await served.next()).done !== true)
      throw new Error("nix-store --serve sent more");
  } finally {
    await served?.return(undefined);
  }
}

/**
 * One path's NAR from the filesystem into `check`, all of it yielded;
 * or the reason to read it through nix instead (only for a permission
 * error or the store path missing, and nothing of it is lost: the caller
 * goes on from `check.bytes`).
 */
async function* fromFilesystem(
  index: number,
  info: PathInfo,
  dump: AsyncGenerator<Buffer>,
  real: string,
  check: Check,
  signal: AbortSignal,
): AsyncGenerator<NarPiece, string | undefined> {
  try {
    await nextTurn();
    let sinceTurn = 0;
    let r = await next(dump, info, real);
    if (typeof r === "string") return r;
    while (r.done !== true) {
      if (sinceTurn >= TURN_BYTES) {
        await nextTurn();
        sinceTurn = 0;
      }
      signal.throwIfAborted();
      const data = r.value;
      if (!check.add(data)) throw mismatch(info, "longer than recorded");
      if (check.complete) {
        // The NAR must end here, and be the recorded one, before its last piece leaves.
        const after = await next(dump, info, real);
        if (typeof after === "string" || after.done !== true) throw mismatch(info, "longer than recorded");
        if (!check.matches()) throw mismatch(info);
        yield { index, data, last: true };
        return undefined;
      }
      yield { index, data, last: false };
      sinceTurn += data.length;
      r = await next(dump, info, real);
      if (typeof r === "string") return r;
    }
    throw mismatch(info, "shorter than recorded");
  } finally {
    await dump.return(undefined);
  }
}

/** The dump's next piece; a string: why nix should read it instead. Other dump errors: a UserError. */
async function next(
  dump: AsyncGenerator<Buffer>,
  info: PathInfo,
  real: string,
): Promise<IteratorResult<Buffer> | string> {
  try {
    return await dump.next();
  } catch (e) {
    if (!isNarDumpError(e)) throw e;
    if (e.code === "UNREADABLE") return e.message;
    // The store path itself missing where we looked: maybe the store is elsewhere (nix.conf's `store`).
    if (e.path === real && (e.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
      return e.message;
    }
    throw mismatch(info, e.message);
  }
}
