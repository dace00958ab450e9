import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { constants, createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import type { ReadableStream as WebStream } from "node:stream/web";
import { fileURLToPath } from "node:url";
import { quote } from "@ros-rollback/nix-core";
import { fetchOnCache, narLocation } from "./cache-origin.js";
import type { NarInfo } from "./narinfo.js";
import type { Found } from "./substituters.js";

/** Why a NAR did not reach Nix whole: the cache's fault (bad) or the cache went away (unavailable). */
export interface RelayFailure {
  readonly storePath: string;
  readonly cacheUrl: string;
  readonly kind: "bad" | "unavailable";
  /** Bounded; names what was fetched. */
  readonly what: string;
}

/**
 * A loopback binary cache that Nix is given as its only substituter during a
 * substitution. It serves the narinfos the agent already checked (signature,
 * size, NAR URL on the cache) and streams each NAR from the cache that had it,
 * following no redirect off that cache: Nix's own downloader follows every
 * redirect and takes a narinfo's absolute URL as it is, so Nix never talks to
 * a cache itself. It also knows what it saw: which NARs went to Nix whole and
 * which did not, and why.
 */
export interface CacheRelay {
  /** The substituter URL for Nix (a random path: other local users cannot guess it). */
  readonly url: string;
  /** Store paths whose NAR went to Nix whole, as long as the cache said. */
  readonly delivered: ReadonlySet<string>;
  readonly failures: readonly RelayFailure[];
  close(): Promise<void>;
}

export interface RelayOptions {
  readonly storeDir: string;
  /** A NAR from which no byte came for this long: the cache is unavailable. */
  readonly stalledMs: number;
}

export async function startCacheRelay(
  found: ReadonlyMap<string, Found>,
  o: RelayOptions,
): Promise<CacheRelay> {
  const byHash = new Map<string, Found>();
  for (const f of found.values()) byHash.set(hashOf(f.info.storePath, o.storeDir), f);
  const token = randomBytes(16).toString("hex");
  const delivered = new Set<string>();
  const failures: RelayFailure[] = [];
  const stop = new AbortController();
  const fail = (f: Found, kind: RelayFailure["kind"], what: string) =>
    failures.push({ storePath: f.info.storePath, cacheUrl: f.cacheUrl, kind, what });

  const serveNar = async (f: Found, res: ServerResponse): Promise<void> => {
    // A NAR found bad stays refused: Nix would retry it (and fetch it again) up to download-attempts times.
    if (failures.some((x) => x.storePath === f.info.storePath && x.kind === "bad")) return answer(res, 403);
    const source = await openNar(f, stop.signal);
    if ("kind" in source) {
      fail(f, source.kind, source.what);
      return answer(res, source.kind === "bad" ? 404 : 502);
    }
    const outcome = await pipeNar(source.body, res, f.info.fileSize, o.stalledMs);
    if (outcome === undefined) delivered.add(f.info.storePath);
    else if (outcome !== "gone") fail(f, outcome.kind, `${source.what}: ${outcome.what}`);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const prefix = `/${token}/`;
    const path = req.url?.startsWith(prefix) === true ? req.url.slice(prefix.length) : undefined;
    if (req.method !== "GET" || path === undefined) return answer(res, 404);
    if (path === "nix-cache-info") return answer(res, 200, `StoreDir: ${o.storeDir}\n`);
    const narinfo = /^([0-9a-z]{32})\.narinfo$/.exec(path);
    const nar = /^nar\/([0-9a-z]{32})$/.exec(path);
    const f = byHash.get(narinfo?.[1] ?? nar?.[1] ?? "");
    if (f === undefined) return answer(res, 404);
    if (narinfo !== null) return answer(res, 200, renderNarInfo(f.info, o.storeDir));
    serveNar(f, res).catch(() => res.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${token}`,
    delivered,
    failures,
    close: async () => {
      stop.abort();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function answer(res: ServerResponse, status: number, body = ""): void {
  res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function hashOf(storePath: string, storeDir: string): string {
  return storePath.slice(storeDir.length + 1, storeDir.length + 33);
}

/** The narinfo as the agent read and checked it; the NAR is at the relay. */
function renderNarInfo(i: NarInfo, storeDir: string): string {
  const lines = [
    `StorePath: ${i.storePath}`,
    `URL: nar/${hashOf(i.storePath, storeDir)}`,
    `Compression: ${i.compression}`,
    ...(i.fileSize > 0 ? [`FileSize: ${i.fileSize}`] : []),
    `NarHash: ${i.narHash}`,
    `NarSize: ${i.narSize}`,
    `References: ${i.references.map((r) => r.slice(storeDir.length + 1)).join(" ")}`,
    ...i.signatures.map((s) => `Sig: ${s}`),
    ...(i.ca === "" ? [] : [`CA: ${i.ca}`]),
  ];
  return `${lines.join("\n")}\n`;
}

type Opened =
  | { readonly body: Readable; readonly what: string }
  | Omit<RelayFailure, "storePath" | "cacheUrl">;

async function openNar(f: Found, signal: AbortSignal): Promise<Opened> {
  const url = narLocation(f.cacheUrl, f.info.url);
  // The lookup refused such a narinfo already; checked again where it is used.
  if (typeof url === "string") return { kind: "bad", what: url };
  const what = `GET ${quote(url.href)}`;
  if (url.protocol === "file:") {
    try {
      const fh = await open(fileURLToPath(url), constants.O_RDONLY | constants.O_NONBLOCK);
      if (!(await fh.stat()).isFile()) {
        await fh.close();
        return { kind: "bad", what: `${what}: not a regular file` };
      }
      return { body: createReadStream("", { fd: fh, signal }), what };
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      return missing
        ? { kind: "bad", what: `${what}: the cache has the narinfo but not the NAR` }
        : { kind: "unavailable", what: `${what}: ${(e as Error).message}` };
    }
  }
  try {
    const got = await fetchOnCache(f.cacheUrl, url, signal);
    if ("refused" in got) return { kind: "bad", what: got.refused };
    const res = got.response;
    if (res.status === 200 && res.body !== null) {
      return { body: Readable.fromWeb(res.body as WebStream), what };
    }
    await res.body?.cancel();
    return [403, 404, 410].includes(res.status)
      ? { kind: "bad", what: `${what}: HTTP ${res.status}: the cache has the narinfo but not the NAR` }
      : { kind: "unavailable", what: `${what}: HTTP ${res.status}` };
  } catch (e) {
    return { kind: "unavailable", what: `${what}: ${(e as Error).message}` };
  }
}

type Piped = undefined | "gone" | Omit<RelayFailure, "storePath" | "cacheUrl">;

/**
 * Streams `body` to Nix with backpressure. undefined: all of it went; "gone":
 * Nix hung up first (its choice, not the cache's); else why the cache failed.
 */
async function pipeNar(
  body: Readable,
  res: ServerResponse,
  fileSize: number,
  stalledMs: number,
): Promise<Piped> {
  let bytes = 0;
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      body.destroy(new Error("stalled"));
    }, stalledMs);
  };
  const gone = new Promise<"gone">((resolve) => res.once("close", () => resolve("gone")));
  res.writeHead(200, { "content-type": "application/octet-stream" });
  try {
    idle();
    for await (const chunk of body) {
      bytes += (chunk as Buffer).length;
      if (fileSize > 0 && bytes > fileSize) {
        return { kind: "bad", what: `longer than the narinfo's FileSize ${fileSize}` };
      }
      idle();
      if (
        !res.write(chunk) &&
        (await Promise.race([once(res, "drain").then(() => "drained"), gone])) === "gone"
      ) {
        return "gone";
      }
    }
    if (stalled) throw new Error("stalled");
    if (fileSize > 0 && bytes < fileSize) {
      return { kind: "bad", what: `cut short: ${bytes} of the narinfo's FileSize ${fileSize} bytes` };
    }
    res.end();
    return undefined;
  } catch (e) {
    if (res.destroyed) return "gone";
    return stalled
      ? { kind: "unavailable", what: `no byte for ${stalledMs / 1000} s after ${bytes} bytes` }
      : { kind: "unavailable", what: `broke off after ${bytes} bytes: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
    body.destroy();
    // Nix must not take a NAR the relay found bad as complete.
    if (!res.writableEnded) res.destroy();
  }
}
