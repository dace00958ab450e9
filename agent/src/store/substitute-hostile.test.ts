import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type AgentError, asAgentError } from "../errors.js";
import { type RecordingServer, recordingServer } from "../testing/recording-server.js";
import { NixCliStore } from "./cli-store.js";
import { substitute } from "./substitute.js";
import { narInfoLookup } from "./substituters.js";

// Issue 24 item 5: the substituters allowlist bounds where the robot (the agent and the Nix it
// runs) connects. A real cache on one loopback origin, a copy of it on another that must get no
// request, and the real nix-store.
let fx: NixFixture;
/** Store paths; `big` is the one whose NAR spans many chunks. */
let closure: string[];
let big: string;
let dir: string;
let elsewhere: RecordingServer;
let robots = 0;
const signal = () => AbortSignal.timeout(60_000);
const BIG_HASH = () => big.slice(11, 43);

/** Serves the cache directory; `twist` may answer a request itself (true) instead. */
const serveDir = (twist?: (req: IncomingMessage, res: ServerResponse) => boolean) => {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (twist?.(req, res) === true) return;
    readFile(join(dir, decodeURIComponent(req.url ?? "/"))).then(
      (body) => res.end(body),
      () => res.writeHead(404).end(),
    );
  };
};

beforeAll(async () => {
  fx = await NixFixture.create();
  const top = await fx.build(diamondExpr("hostile"));
  await fx.sign(top);
  // Agent tests do not import the controller: the closure as Nix lists it.
  closure = (await fx.nixStore(["--query", "--requisites", top])).trim().split("\n");
  big = closure.find((p) => p.includes("-big-")) ?? "";
  dir = join(fx.root, "cache");
  await fx.nix(["copy", "--to", `file://${dir}?compression=none`, top]);
  // A full copy of the cache: were the robot to follow anything there, it would get good bytes.
  elsewhere = await recordingServer(serveDir());
}, 120_000);

afterAll(async () => {
  await elsewhere?.close();
  await fx?.cleanup();
});

let cache: RecordingServer | undefined;
afterEach(async () => {
  await cache?.close();
  cache = undefined;
  elsewhere.requests.length = 0;
});

async function run(cacheUrl: string, stalledSeconds = 30): Promise<{ error?: AgentError; robot: string }> {
  const robot = fx.store(`robot-${++robots}`);
  const error = await substitute(
    closure,
    {
      store: new NixCliStore({ storeUri: robot, env: fx.env }),
      caches: [cacheUrl],
      trustedKeys: parseTrustedKeys([fx.publicKey]),
      trustedKeyTexts: [fx.publicKey],
      lookup: narInfoLookup({ storeDir: "/nix/store", timeoutMs: 5_000 }),
      storeUri: robot,
      env: fx.env,
      stalledSeconds,
    },
    signal(),
    () => undefined,
  ).then(
    () => undefined,
    (e: unknown) => asAgentError(e) ?? (e as AgentError),
  );
  expect(await childProcesses()).toEqual([]);
  return { error, robot };
}

const isNar = (req: IncomingMessage) => req.url?.startsWith("/nar/") === true;
const isBigNarinfo = (req: IncomingMessage) => req.url === `/${BIG_HASH()}.narinfo`;
const bigNarUrl = async () =>
  /^URL: (.*)$/m.exec(await readFile(join(dir, `${BIG_HASH()}.narinfo`), "utf8"))?.[1] ?? "";

describe("substitution stays on the cache", () => {
  it("a redirect of a NAR to another origin: CACHE_BAD_NAR naming the cache; the other origin gets no request", async () => {
    cache = await recordingServer(
      serveDir((req, res) => {
        if (!isNar(req)) return false;
        res.writeHead(302, { location: `${elsewhere.url}${req.url}` }).end();
        return true;
      }),
    );
    const { error, robot } = await run(cache.url);
    expect(error?.code).toBe("CACHE_BAD_NAR");
    expect(error?.message).toContain(`cache "${cache.url}"`);
    expect(error?.message).toMatch(/redirected to another origin "http:\/\/127\.0\.0\.1:\d+\/nar\//);
    expect(elsewhere.requests).toEqual([]);
    expect(await fx.validAmong(closure, robot)).toEqual([]);
  });

  it("a narinfo naming its NAR on another host: refused before Nix runs (NOT_FOUND naming why); no request there", async () => {
    const narUrl = await bigNarUrl();
    cache = await recordingServer(
      serveDir((req, res) => {
        if (!isBigNarinfo(req)) return false;
        readFile(join(dir, req.url ?? "")).then((b) =>
          res.end(b.toString().replace(`URL: ${narUrl}`, `URL: ${elsewhere.url}/${narUrl}`)),
        );
        return true;
      }),
    );
    const { error, robot } = await run(cache.url);
    expect(error?.code).toBe("NOT_FOUND");
    expect(error?.message).toContain(`its NAR URL "${elsewhere.url}/${narUrl}" leaves the cache`);
    expect(cache.requests.filter((r) => r.includes("/nar/"))).toEqual([]);
    expect(elsewhere.requests).toEqual([]);
    expect(await fx.validAmong([big], robot)).toEqual([]);
  });

  it("a redirect of a narinfo to another origin: refused, no request there", async () => {
    cache = await recordingServer(
      serveDir((req, res) => {
        if (!isBigNarinfo(req)) return false;
        res.writeHead(301, { location: `${elsewhere.url}${req.url}` }).end();
        return true;
      }),
    );
    const { error } = await run(cache.url);
    expect(error?.code).toBe("NOT_FOUND");
    expect(error?.message).toContain("redirected to another origin");
    expect(elsewhere.requests).toEqual([]);
  });

  it("redirects on the cache's own origin are followed: the closure is fetched", async () => {
    // One server that redirects to itself: /x → /moved/x, served as /x.
    cache = await recordingServer(
      serveDir((req, res) => {
        if (req.url?.startsWith("/moved/") === true) {
          req.url = req.url.slice("/moved".length);
          return false;
        }
        if (!(isNar(req) || isBigNarinfo(req))) return false;
        res.writeHead(307, { location: `/moved${req.url}` }).end();
        return true;
      }),
    );
    const { error, robot } = await run(cache.url);
    expect(error).toBeUndefined();
    expect(cache.requests).toContain(`GET /moved/${await bigNarUrl()}`);
    expect(await fx.validAmong(closure, robot)).toHaveLength(closure.length);
  });

  it("a cache that breaks off or stalls mid-NAR: CACHE_UNAVAILABLE naming it, not INTERNAL", async () => {
    const narUrl = `/${await bigNarUrl()}`;
    for (const how of ["breaks off", "stalls"] as const) {
      cache = await recordingServer(
        serveDir((req, res) => {
          if (req.url !== narUrl) return false;
          readFile(join(dir, req.url)).then((b) => {
            res.writeHead(200, { "content-length": b.length });
            res.write(b.subarray(0, 1000));
            if (how === "breaks off") setTimeout(() => res.destroy(), 200);
          });
          return true;
        }),
      );
      const { error, robot } = await run(cache.url, 1);
      expect(error?.code, how).toBe("CACHE_UNAVAILABLE");
      expect(error?.message).toContain(`cache "${cache.url}", path "${big}"`);
      expect(error?.message).toContain(how === "stalls" ? "no byte for 1 s after 1000 bytes" : "broke off");
      expect(await fx.validAmong([big], robot)).toEqual([]);
      await cache.close();
      cache = undefined;
    }
  }, 90_000);
});
