import type { Writable } from "node:stream";
import { isStorePath, SinkClosed, writeTo } from "@ros-rollback/nix-core";
import { Compression, type PushPathsRequest } from "@ros-rollback/proto";
import { AgentError, isAgentError } from "../errors.js";
import { quote, quoteList } from "../text/bounded.js";
import { Announced } from "./announced.js";
import { type Decompressor, openDecompressor } from "./decompress.js";
import type { ImportPathInfo, StoreImport } from "./nix-store.js";
import { checkPathInfo } from "./path-checks.js";
import { PathValidity } from "./path-validity.js";
import {
  DEFAULT_MAX_SKIPPED_BYTES,
  DEFAULT_PUSH_IDLE_TIMEOUT_MS,
  DEFAULT_PUSH_OPENING_TIMEOUT_MS,
  type PushDeps,
  type PushResult,
} from "./push-deps.js";
import type { PushObserver, RefusalReason } from "./push-observer.js";
import { verifyPathSignature } from "./signature.js";
import { IdleWatch, streamBroke } from "./stream-util.js";

/** Validity lookups are batched with the paths announced next, up to this many. */
const QUERY_BATCH = 512;

interface Current {
  readonly storePath: string;
  remaining: number;
  /** False while skipping (a path the robot has): its bytes are dropped. */
  readonly importing: boolean;
}

/**
 * Receives one PushPaths stream into the store. Every path is checked
 * (syntax, references present, signature by a trusted key) before nix sees
 * it. Its bytes are not hashed here: nix hashes them while restoring and
 * refuses a NAR whose hash or size differs from the signed ones before it
 * registers anything (StoreImport reports that as HASH_MISMATCH).
 */
export async function receivePush(
  requests: AsyncIterable<PushPathsRequest>,
  deps: PushDeps,
  signal: AbortSignal,
): Promise<PushResult> {
  const it = requests[Symbol.asyncIterator]();
  try {
    const opening = new IdleWatch(
      signal,
      deps.openingTimeoutMs ?? DEFAULT_PUSH_OPENING_TIMEOUT_MS,
      "after it connected",
    );
    const first = await opening.next(it, streamBroke).finally(() => opening.close());
    const item = first.done === true ? undefined : first.value.item;
    if (item?.$case !== "options") {
      throw new AgentError("INVALID_ARGUMENT", "a push must start with PushOptions");
    }
    await deps.ensureSpace?.(item.value.totalNarSize, "the push");
    return await new Receiver(it, deps, item.value.compression, signal).run();
  } catch (e) {
    if (signal.aborted && !(isAgentError(e) && e.code === "ABORTED")) {
      const why = signal.reason instanceof Error ? `: ${signal.reason.message}` : "";
      throw new AgentError("ABORTED", `push aborted${why}`, { cause: e });
    }
    throw e;
  } finally {
    // Ends the client's stream if we stopped early (and kills a local generator's processes).
    it.return?.().catch(() => undefined);
  }
}

class Receiver {
  private readonly announced = new Announced();
  private readonly observer: PushObserver;
  private readonly seen = new Set<string>();
  private validity: PathValidity | undefined;
  private readonly sizes = new Map<string, number>();
  private readonly skipped: string[] = [];
  private skippedBytes = 0;
  private current: Current | undefined;
  private narBytes = 0;
  private sinkClosed = false;
  private readonly errors: unknown[] = [];
  private readonly stop = new AbortController();

  constructor(
    private readonly it: AsyncIterator<PushPathsRequest>,
    private readonly deps: PushDeps,
    private readonly compression: Compression,
    private readonly signal: AbortSignal,
  ) {
    this.observer = deps.observer ?? {};
  }

  async run(): Promise<PushResult> {
    const onAbort = () => this.stop.abort(this.signal.reason);
    this.signal.addEventListener("abort", onAbort, { once: true });
    let decomp: Decompressor | undefined;
    let session: StoreImport | undefined;
    try {
      const none = this.compression === Compression.COMPRESSION_NONE;
      if (!none) {
        decomp = await openDecompressor(this.compression, this.deps.decompress ?? {}, this.stop.signal);
        decomp.input.on("error", () => undefined); // surfaces through `output`
      }
      // The outer signal: on our own refusals nix must live on to register the good paths before.
      session = await this.deps.store.openImport(this.signal, {
        onImported: (p) => this.observer.pathImported?.(p, this.sizes.get(p) ?? 0),
        onRejected: (p) => this.observer.pathRefused?.(p, "hash_mismatch"),
      });
      const d = decomp;
      const s = session;
      if (d === undefined) {
        // Uncompressed: the chunks go straight to nix, no stream in between (a push is mostly chunks).
        await this.consume(this.chunks(), s);
      } else {
        await Promise.all([
          this.pump(d.input).catch((e: unknown) => this.fail(e, d)),
          this.consume(d.output, s).catch((e: unknown) => this.fail(e, d)),
        ]);
      }
      const error = this.errors.find((e) => !(e instanceof SinkClosed)) ?? this.errors[0];
      if (error !== undefined) throw error;
      const imported = await session.finish();
      return { imported, skipped: this.skipped, narBytes: this.narBytes };
    } catch (e) {
      this.stop.abort(e);
      decomp?.destroy();
      const imported = session === undefined ? [] : await session.close(this.signal.aborted);
      // Nix refusing a NAR comes first: a wrong narSize shifts every later path, so the stream errs next.
      const error = (this.signal.aborted ? undefined : session?.refusal()) ?? e;
      if (isAgentError(error) && imported.length > 0) {
        throw new AgentError(
          error.code,
          `${error.message} (${imported.length} earlier paths of this push were imported)`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      this.signal.removeEventListener("abort", onAbort);
    }
  }

  private fail(e: unknown, decomp: Decompressor): void {
    this.errors.push(e);
    this.stop.abort(e);
    decomp.destroy();
  }

  /** Request stream → PathInfo queue and decompressor input, in message order. */
  private async pump(input: Writable): Promise<void> {
    for await (const data of this.chunks()) {
      try {
        await writeTo(input, data, this.stop.signal);
      } catch (e) {
        if (!(e instanceof SinkClosed)) throw e;
        // The decompressor stopped (corrupt data): consume() reports why.
        this.sinkClosed = true;
        return;
      }
    }
    input.end();
  }

  /** The request stream's chunk bytes (as sent: compressed, if the push is); PathInfos go to the queue on the way. */
  private async *chunks(): AsyncGenerator<Buffer> {
    const idle = new IdleWatch(this.stop.signal, this.deps.idleTimeoutMs ?? DEFAULT_PUSH_IDLE_TIMEOUT_MS);
    try {
      for (;;) {
        const r = await idle.next(this.it, streamBroke);
        if (r.done === true) return;
        const item = r.value.item;
        if (item?.$case === "path") {
          this.announced.push(item.value);
        } else if (item?.$case === "chunk") {
          const data = item.value.data;
          this.observer.wireBytes?.(data.length);
          yield data;
        } else {
          throw new AgentError("INVALID_ARGUMENT", `unexpected ${item?.$case ?? "empty"} message in a push`);
        }
      }
    } finally {
      idle.close();
    }
  }

  /** NAR bytes → the announced paths, by their nar_size. */
  private async consume(output: AsyncIterable<Buffer>, session: StoreImport): Promise<void> {
    for await (const buf of output) {
      this.narBytes += buf.length;
      this.observer.narBytes?.(buf.length);
      let off = 0;
      while (off < buf.length) {
        this.current ??= await this.startNext(session);
        const cur = this.current;
        const n = Math.min(cur.remaining, buf.length - off);
        const slice = buf.subarray(off, off + n);
        off += n;
        cur.remaining -= n;
        if (cur.importing) await session.writeNar(slice);
        if (cur.remaining === 0) this.current = undefined;
      }
    }
    if (this.stop.signal.aborted) return; // pump() failed; its error is the one to report
    if (this.current !== undefined) {
      const { storePath, remaining } = this.current;
      this.refuse(storePath, "hash_mismatch", `the push ended ${remaining} bytes short of its NAR size`);
    }
    const orphan = this.announced.shift();
    if (orphan !== undefined) this.refuse(orphan.storePath, "hash_mismatch", "no NAR bytes were sent");
    if (this.sinkClosed)
      throw new AgentError("INVALID_ARGUMENT", "trailing data after the compressed stream");
  }

  private async startNext(session: StoreImport): Promise<Current> {
    const raw = this.announced.shift();
    if (raw === undefined) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        "the push sent NAR bytes beyond the paths it announced (a PathInfo must come before its bytes)",
      );
    }
    let info: ImportPathInfo;
    try {
      info = checkPathInfo(raw, this.deps.store.storeDir);
    } catch (e) {
      this.observer.pathRefused?.(raw.storePath, "invalid");
      throw e;
    }
    const path = info.storePath;
    if (this.seen.has(path)) return this.skip(info); // twice in one push: the first copy counts
    // The cheap checks (no store round trip) before the references are looked up.
    try {
      verifyPathSignature(info, this.deps.trustedKeys);
    } catch (e) {
      this.observer.pathRefused?.(path, "untrusted");
      throw e;
    }
    this.validity ??= new PathValidity(session, this.seen);
    const validity = this.validity;
    await validity.learn([path, ...info.references], this.lookahead());
    if (validity.isValid(path)) {
      this.seen.add(path);
      this.skipped.push(path);
      this.observer.pathSkipped?.(path);
      return this.skip(info);
    }
    const missing = await validity.missingReferences(path, info.references);
    if (missing.length > 0) {
      this.refuse(
        path,
        "missing_reference",
        `references ${quoteList(missing, "path")}, neither valid on the robot nor pushed before it ` +
          "(paths must come in dependency order)",
        "INVALID_ARGUMENT",
      );
    }
    this.seen.add(path);
    this.sizes.set(path, info.narSize);
    await session.beginPath(info);
    return { storePath: path, remaining: info.narSize, importing: true };
  }

  /** Drops the bytes of a path the robot has, within maxSkippedBytes (refused before decompressing any). */
  private skip(info: ImportPathInfo): Current {
    const max = this.deps.maxSkippedBytes ?? DEFAULT_MAX_SKIPPED_BYTES;
    this.skippedBytes += info.narSize;
    if (this.skippedBytes > max) {
      throw new AgentError(
        "FAILED_PRECONDITION",
        `the push sent more than ${max} NAR bytes of paths the robot already has (at ${quote(info.storePath)}); ` +
          "ask QueryMissingPaths and push only the missing paths",
      );
    }
    return { storePath: info.storePath, remaining: info.narSize, importing: false };
  }

  /** Store paths of the next announced PathInfos (the malformed ones are refused in their turn). */
  private lookahead(): string[] {
    return this.announced
      .peek(QUERY_BATCH)
      .map((raw) => raw.storePath)
      .filter((p) => isStorePath(p, this.deps.store.storeDir));
  }

  private refuse(
    path: string,
    reason: RefusalReason,
    why: string,
    code: "HASH_MISMATCH" | "INVALID_ARGUMENT" = "HASH_MISMATCH",
  ): never {
    this.observer.pathRefused?.(path, reason);
    throw new AgentError(code, `path ${quote(path)} refused: ${why}`);
  }
}
