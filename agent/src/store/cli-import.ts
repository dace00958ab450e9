import { isEndOfStream, quote, ServeCommand, str, strs, u64 } from "@ros-rollback/nix-core";
import { AgentError } from "../errors.js";
import { GatheredWrites } from "./gathered-writes.js";
import type { ImportEvents, ImportPathInfo, StoreImport } from "./nix-store.js";
import type { ServeProcess } from "./serve-process.js";

/** How long nix may take to register the fully written paths after we stop early. */
const STOP_GRACE_MS = 30_000;
const MAX_PATH_LENGTH = 4096;
/**
 * Nix's own refusal of a NAR, before it registers the path: LocalStore::addToStore
 * parses and hashes while restoring, then checks narHash and narSize; the NAR
 * is read through a SizedSource of narSize bytes ("sized: …" when it needs
 * more); the parse's own errors (a tampered length or tag). None comes from an
 * input we cut (that is a plain end-of-file) nor from the local disk. Anchored:
 * "ca hash mismatch" is another check (EXTERNAL_COMMAND_FAILED).
 */
const NAR_REFUSALS: readonly (readonly [RegExp, string])[] = (
  [
    [/hash mismatch importing path/, "hash mismatch"],
    [/size mismatch importing path/, "size mismatch"],
    [/sized: unexpected end-of-file/, "the NAR goes on past its size"],
    [
      /bad archive:|non-zero padding|string is too long|serialised integer|NAR contains invalid file name/,
      "malformed NAR",
    ],
    // readString allocates a tampered length's bytes (std::bad_alloc): a signed NAR's strings are
    // names and link targets, so only a real shortage at that moment would say it otherwise.
    [/out of memory/, "a length it cannot allocate (out of memory)"],
  ] as const
).map(([re, what]) => [new RegExp(`^(?:\\S*error:\\S*\\s+)?(?:${re.source})`, "m"), what] as const);

/** Asks `paths` over a serve connection; `lock` adds temp GC roots when the connection has --write. */
export async function serveQueryValid(
  proc: ServeProcess,
  paths: readonly string[],
  lock: boolean,
): Promise<Set<string>> {
  await proc.write(
    Buffer.concat([u64(ServeCommand.QueryValidPaths), u64(lock ? 1 : 0), u64(0), strs(paths)]),
  );
  return new Set(await proc.reader.strings("valid paths", paths.length, MAX_PATH_LENGTH));
}

/**
 * An import session over two `nix-store --serve --write` processes: one
 * answers validity queries at once, the other imports. Imports are
 * pipelined (cmdAddToStoreNar, then the NAR, then the next one without
 * waiting); nix answers each with 1 after registering it, and we read those
 * acks concurrently. Nix's LocalStore::addToStore restores while hashing and
 * refuses a mismatch before registering (HASH_MISMATCH here: the only check of
 * the NAR's bytes), and keeps the signatures.
 */
export class CliImport implements StoreImport {
  private readonly written: string[] = [];
  private readonly imported: string[] = [];
  private readonly acks: Promise<void>;
  private ackError: unknown;
  private queryChain: Promise<unknown> = Promise.resolve();
  private closed: Promise<string[]> | undefined;
  private bytesLeft = 0;
  private rejected = false;
  /** Into the importer's stdin in large writes; each path's last bytes go at once (writeNar). */
  private readonly out: GatheredWrites;

  constructor(
    private readonly query: ServeProcess,
    private readonly importer: ServeProcess,
    private readonly events: ImportEvents = {},
  ) {
    this.out = new GatheredWrites((data, written) => importer.write(data, written));
    this.acks = this.readAcks().catch((e: unknown) => {
      this.ackError = e;
    });
  }

  private async readAcks(): Promise<void> {
    for (;;) {
      let ack: number;
      try {
        ack = await this.importer.reader.u64("import acknowledgement");
      } catch (e) {
        if (isEndOfStream(e)) return;
        throw e;
      }
      const path = this.written[this.imported.length];
      if (ack !== 1 || path === undefined) throw new Error(`unexpected answer ${ack} from nix-store --serve`);
      this.imported.push(path);
      this.events.onImported?.(path);
    }
  }

  queryValid(paths: readonly string[]): Promise<Set<string>> {
    const answer = this.queryChain.then(async () => {
      try {
        return await serveQueryValid(this.query, paths, true);
      } catch (e) {
        throw await this.query.failed("querying path validity", e);
      }
    });
    this.queryChain = answer.catch(() => undefined);
    return answer;
  }

  async beginPath(info: ImportPathInfo): Promise<void> {
    if (this.bytesLeft !== 0) throw new Error("beginPath before the previous path's NAR was complete");
    const header = Buffer.concat([
      u64(ServeCommand.AddToStoreNar),
      str(info.storePath),
      str(info.deriver),
      str(info.narHash),
      strs(info.references),
      u64(Math.floor(Date.now() / 1000)), // registrationTime
      u64(info.narSize),
      u64(0), // ultimate: not built here
      strs(info.signatures),
      str(info.ca),
    ]);
    this.written.push(info.storePath);
    this.bytesLeft = info.narSize;
    await this.send(header, info.narSize === 0);
  }

  async writeNar(chunk: Uint8Array): Promise<void> {
    if (chunk.length > this.bytesLeft) throw new Error("more NAR bytes than the path's narSize");
    this.bytesLeft -= chunk.length;
    await this.send(chunk, this.bytesLeft === 0);
  }

  /** `flush`: nix gets everything so far now (a path's end: it imports the path without waiting for more). */
  private async send(data: Uint8Array, flush = false): Promise<void> {
    try {
      await this.out.write(data);
      if (flush) await this.out.flush();
    } catch (e) {
      throw this.orRefusal(await this.importer.failed(`importing ${this.current()}`, e));
    }
  }

  /**
   * Nix's refusal of the NAR of the path it was importing (HASH_MISMATCH), if
   * its stderr says so; reported once through onRejected.
   */
  refusal(cause?: unknown): AgentError | undefined {
    const path = this.written[this.imported.length];
    const said = this.importer.stderr();
    const what = NAR_REFUSALS.find(([re]) => re.test(said))?.[1];
    if (path === undefined || what === undefined) return undefined;
    if (!this.rejected) this.events.onRejected?.(path);
    this.rejected = true;
    return new AgentError(
      "HASH_MISMATCH",
      `path ${quote(path)} refused: its NAR bytes do not match the announced NAR hash and size (nix: ${what})`,
      { cause },
    );
  }

  private orRefusal(failure: AgentError): AgentError {
    return failure.code === "EXTERNAL_COMMAND_FAILED" ? (this.refusal(failure) ?? failure) : failure;
  }

  /** The first path nix has not acknowledged: the one it was working on when it failed. */
  private current(): string {
    return quote(this.written[this.imported.length] ?? "(no path)");
  }

  async finish(): Promise<string[]> {
    if (this.bytesLeft !== 0) throw new Error("finish before the last path's NAR was complete");
    this.importer.endInput();
    this.query.endInput();
    await this.acks;
    const [imp] = await Promise.all([this.importer.exited, this.query.exited]);
    if (this.ackError !== undefined || imp.code !== 0 || this.imported.length !== this.written.length) {
      throw this.orRefusal(this.importer.failure(`importing ${this.current()}`, this.ackError));
    }
    return [...this.imported];
  }

  close(hard: boolean): Promise<string[]> {
    this.closed ??= (async () => {
      if (hard) {
        this.importer.terminate();
        this.query.terminate();
      }
      // A partly sent NAR ends in EOF, which nix reports as an error without registering the path.
      await Promise.all([this.importer.stop(STOP_GRACE_MS), this.query.stop(STOP_GRACE_MS)]);
      await this.acks;
      return [...this.imported];
    })();
    return this.closed;
  }
}

export function notSupported(version: number): AgentError {
  return new AgentError(
    "EXTERNAL_COMMAND_FAILED",
    `nix-store --serve speaks protocol ${version.toString(16)}; importing needs 2.5 or later`,
  );
}
