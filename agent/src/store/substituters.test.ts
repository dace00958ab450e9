import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RecordingServer, recordingServer } from "../testing/recording-server.js";
import { MAX_NARINFO_BYTES } from "./narinfo.js";
import { CacheError, narInfoLookup, queryCaches } from "./substituters.js";

// Lookups against real HTTP servers on loopback: a cache, and another origin that must get no request.
const P = "/nix/store/6hvy7hw44cxcvbw5r3ln8xjzgj5lgmrb-b";
const HASH = "6hvy7hw44cxcvbw5r3ln8xjzgj5lgmrb";
const narinfo = (url: string, path = P) =>
  [
    `StorePath: ${path}`,
    `URL: ${url}`,
    "Compression: xz",
    "NarHash: sha256:1w98wmwkaj9w7q2bb2pldn5jbm0dg8na9accj0pi74xpy3qn7d97",
    "NarSize: 400",
    "References: ",
    "",
  ].join("\n");

const lookup = narInfoLookup({ storeDir: "/nix/store", timeoutMs: 10_000 });
const signal = () => AbortSignal.timeout(30_000);

let elsewhere: RecordingServer;
let dir: string;
beforeAll(async () => {
  elsewhere = await recordingServer((_, res) => res.end(narinfo("nar/x.nar.xz")));
  dir = await mkdtemp(join(tmpdir(), "ros-rollback-narinfo-"));
});
afterAll(async () => {
  await elsewhere.close();
  await rm(dir, { recursive: true, force: true });
});

/** A cache whose answer for `<HASH>.narinfo` is `answer` (its request log is checked too). */
async function withCache(
  answer: (res: import("node:http").ServerResponse, url: string) => void,
  check: (cache: RecordingServer) => Promise<void>,
): Promise<void> {
  const cache = await recordingServer((req, res) => answer(res, req.url ?? ""));
  try {
    await check(cache);
  } finally {
    await cache.close();
  }
}

async function refusal(cacheUrl: string, path = P): Promise<CacheError> {
  const e = await lookup(cacheUrl, path, signal()).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(CacheError);
  return e as CacheError;
}

describe("narinfo lookups stay on the cache", () => {
  it("a redirect of the .narinfo to another origin is refused, named, and not followed", async () => {
    elsewhere.requests.length = 0;
    await withCache(
      (res) => res.writeHead(302, { location: `${elsewhere.url}/${HASH}.narinfo` }).end(),
      async (cache) => {
        const e = await refusal(cache.url);
        expect(e.cacheUrl).toBe(cache.url);
        expect(e.message).toContain(`GET "${cache.url}/${HASH}.narinfo": redirected to another origin`);
        expect(e.message).toContain(elsewhere.url);
        // queryCaches reports the cache, and trusts nothing else it said.
        const { found, unreachable } = await queryCaches([cache.url], [P], lookup, signal());
        expect(found.size).toBe(0);
        expect(unreachable[0]).toContain("redirected to another origin");
      },
    );
    expect(elsewhere.requests).toEqual([]);
  });

  it("a redirect on the cache's own origin is followed (at most 3)", async () => {
    await withCache(
      (res, url) => {
        const hop = Number(/hop(\d)/.exec(url)?.[1] ?? 0);
        if (url.includes(".narinfo") && hop < 3)
          res.writeHead(307, { location: `/hop${hop + 1}/${HASH}.narinfo` });
        res.end(narinfo("nar/x.nar.xz"));
      },
      async (cache) => {
        expect((await lookup(cache.url, P, signal()))?.storePath).toBe(P);
        expect(cache.requests).toEqual([
          `GET /${HASH}.narinfo`,
          `GET /hop1/${HASH}.narinfo`,
          `GET /hop2/${HASH}.narinfo`,
          `GET /hop3/${HASH}.narinfo`,
        ]);
      },
    );
    await withCache(
      (res, url) => res.writeHead(302, { location: `${url}x` }).end(),
      async (cache) => expect((await refusal(cache.url)).message).toContain("more than 3 redirects"),
    );
  });

  it("a narinfo whose NAR URL names another origin is refused before anything fetches it", async () => {
    elsewhere.requests.length = 0;
    for (const url of [`${elsewhere.url}/nar/x.nar.xz`, "file:///etc/shadow", "https://127.0.0.1/nar/x"]) {
      await withCache(
        (res) => res.end(narinfo(url)),
        async (cache) => {
          const e = await refusal(cache.url);
          expect(e.message).toContain(`its NAR URL ${JSON.stringify(url)} leaves the cache (not fetched)`);
          expect(e.message).toContain(`${cache.url}/${HASH}.narinfo`);
        },
      );
    }
    // The same origin written out in full is the cache.
    await withCache(
      (res, url) => res.end(narinfo(`http://${res.req.headers.host}/nar${url}.nar`)),
      async (cache) => expect((await lookup(cache.url, P, signal()))?.storePath).toBe(P),
    );
    expect(elsewhere.requests).toEqual([]);
  });

  it("a file:// cache's NAR URL must stay in its directory; a FIFO narinfo does not hang", async () => {
    const cache = join(dir, "file-cache");
    await mkdir(cache, { recursive: true });
    await writeFile(join(cache, `${HASH}.narinfo`), narinfo("../../../../etc/shadow"));
    expect((await refusal(`file://${cache}`)).message).toContain("leaves the cache");
    await writeFile(join(cache, `${HASH}.narinfo`), narinfo("nar/x.nar.xz"));
    expect((await lookup(`file://${cache}`, P, signal()))?.url).toBe("nar/x.nar.xz");
    const fifo = join(dir, "fifo-cache");
    await mkdir(fifo);
    await promisify(execFile)("mkfifo", [join(fifo, `${HASH}.narinfo`)]);
    expect((await refusal(`file://${fifo}`)).message).toContain("not a regular file");
  });
});

describe("narinfo size", () => {
  it("a 300 MB narinfo: the read stops past the limit; the looking-up process grows by at most 20 MB", async () => {
    const total = 300 * 1024 * 1024;
    let handed = 0;
    let closed!: () => void;
    const done = new Promise<void>((r) => {
      closed = r;
    });
    const line = Buffer.from(`X-Filler: ${"a".repeat(64 * 1024 - 12)}\n`);
    const huge = await recordingServer((req, res) => {
      if (!req.url?.includes(HASH))
        return void res.end(narinfo("nar/w.nar.xz", "/nix/store/2hvy7hw44cxcvbw5r3ln8xjzgj5lgmrb-w"));
      res.on("close", closed);
      res.write(`StorePath: ${P}\n`);
      // Generated as it is sent: the server holds one line, never 300 MB.
      const pump = () => {
        while (handed < total && !res.destroyed) {
          handed += line.length;
          if (!res.write(line)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    try {
      const child = fileURLToPath(new URL("../testing/lookup-rss.ts", import.meta.url));
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          "--import",
          "tsx",
          "--expose-gc",
          child,
          huge.url,
          "/nix/store/2hvy7hw44cxcvbw5r3ln8xjzgj5lgmrb-w",
          P,
        ],
        { timeout: 120_000 },
      );
      const out = JSON.parse(stdout) as { beforeKib: number; peakKib: number; error: string };
      await done;
      expect(out.error).toContain(`is larger than ${MAX_NARINFO_BYTES} bytes (not read further)`);
      expect(out.error).toContain(huge.url);
      expect((out.peakKib - out.beforeKib) / 1024).toBeLessThanOrEqual(20);
      // What the server got into its socket before the robot hung up: buffers, not the body.
      expect(handed).toBeLessThan(32 * 1024 * 1024);
    } finally {
      await huge.close();
    }
  }, 120_000);

  it("a declared Content-Length over the limit, or a huge file:// narinfo, is refused without reading it", async () => {
    await withCache(
      (res) => res.writeHead(200, { "content-length": String(MAX_NARINFO_BYTES + 1) }).end(),
      async (cache) => expect((await refusal(cache.url)).message).toContain("is larger than"),
    );
    const cache = join(dir, "sparse-cache");
    await mkdir(cache);
    await writeFile(join(cache, `${HASH}.narinfo`), narinfo("nar/x.nar.xz"));
    await truncate(join(cache, `${HASH}.narinfo`), 300 * 1024 * 1024); // sparse: no disk used
    expect((await refusal(`file://${cache}`)).message).toContain("is larger than");
  });
});
