import { cp, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  asAgentError,
  NixCliStore,
  narInfoLookup,
  queryCaches,
  type SubstituteDeps,
  type SubstituteProgress,
  substitute,
} from "@ros-rollback/agent/testing";
import { computeClosure, uploadClosure } from "@ros-rollback/controller/testing";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import type { PathInfo } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let fx: NixFixture;
let signed: PathInfo[];
let unsigned: PathInfo[];
/** file:// cache with `signed` and `unsigned`, NARs uncompressed (so a test can flip a byte). */
let cacheUrl: string;
let http: Server;
let httpUrl: string;
let robots = 0;

const signal = () => AbortSignal.timeout(60_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });
const lookup = () => narInfoLookup({ storeDir: "/nix/store", timeoutMs: 2_000 });
const paths = (infos: PathInfo[]) => infos.map((i) => i.storePath);

beforeAll(async () => {
  fx = await NixFixture.create();
  const top = await fx.build(diamondExpr("cached"));
  await fx.sign(top);
  signed = await computeClosure(top, signal(), nix());
  const bad = await fx.build(diamondExpr("cached-unsigned"));
  unsigned = await computeClosure(bad, signal(), nix());
  const dir = join(fx.root, "cache");
  cacheUrl = `file://${dir}`;
  await fx.nix(["copy", "--to", `${cacheUrl}?compression=none`, top, bad]);
  http = createServer((req, res) => {
    // A real HTTP cache over the same directory: GET only, 404 for what is not there.
    readFile(join(dir, (req.url ?? "/").replace(/\?.*$/, ""))).then(
      (body) => res.end(body),
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}, 90_000);

afterAll(async () => {
  await new Promise((r) => http?.close(r));
  await fx?.cleanup();
});

function deps(storeUri: string, caches: string[], keys = [fx.publicKey]): SubstituteDeps {
  return {
    store: new NixCliStore({ storeUri, env: fx.env }),
    caches,
    trustedKeys: parseTrustedKeys(keys),
    trustedKeyTexts: keys,
    lookup: lookup(),
    storeUri,
    env: fx.env,
    pollMs: 50,
  };
}

async function run(
  infos: PathInfo[],
  d: SubstituteDeps,
): Promise<{
  result?: SubstituteProgress;
  error?: { code?: string; message: string };
  seen: SubstituteProgress[];
}> {
  const seen: SubstituteProgress[] = [];
  try {
    const result = await substitute(paths(infos), d, signal(), (p) => seen.push(p));
    return { result, seen };
  } catch (e) {
    // As the server sees it: through the one mapping (nix-core's format errors included).
    return { error: asAgentError(e) ?? (e as { code?: string; message: string }), seen };
  } finally {
    expect(await childProcesses()).toEqual([]);
  }
}

describe("queryCaches (narinfo lookups)", () => {
  it("lists what a file:// and an http:// cache hold, with sizes, and not what they lack", async () => {
    const other = await fx.build('builtins.toFile "not-cached" "x"');
    for (const url of [cacheUrl, httpUrl]) {
      const { found, unreachable } = await queryCaches([url], [...paths(signed), other], lookup(), signal());
      expect(unreachable).toEqual([]);
      expect([...found.keys()].sort()).toEqual(paths(signed).sort());
      for (const i of signed) expect(found.get(i.storePath)?.info.narSize).toBe(i.narSize);
      expect(found.get(signed[0]?.storePath ?? "")?.cacheUrl).toBe(url);
    }
  });

  it("a cache that is down, answers 500 or hangs is reported unreachable; the next cache still answers", async () => {
    const down = "http://127.0.0.1:1";
    const broken = createServer((req, res) => {
      if (req.url?.includes("hang")) return; // never answers
      res.statusCode = 500;
      res.end();
    });
    await new Promise<void>((r) => broken.listen(0, "127.0.0.1", r));
    const port = (broken.address() as AddressInfo).port;
    try {
      const { found, unreachable } = await queryCaches(
        [down, `http://127.0.0.1:${port}`, `http://127.0.0.1:${port}/hang`, cacheUrl],
        paths(signed),
        lookup(),
        signal(),
      );
      expect(unreachable).toHaveLength(3);
      expect(unreachable[1]).toContain("HTTP 500");
      expect([...found.values()].every((f) => f.cacheUrl === cacheUrl)).toBe(true);
      expect(found.size).toBe(signed.length);
    } finally {
      broken.closeAllConnections();
      await new Promise((r) => broken.close(r));
    }
  });
});

describe("substitute", () => {
  it("fetches a whole closure from an http cache, progress growing to done", async () => {
    const robot = fx.store(`robot-${++robots}`);
    const out = await run(signed, deps(robot, [httpUrl]));
    expect(out.error).toBeUndefined();
    const total = signed.reduce((s, i) => s + i.narSize, 0);
    expect(out.result).toMatchObject({ pathsDone: signed.length, narBytesDone: total, done: true });
    expect(await fx.validAmong(paths(signed), robot)).toEqual(paths(signed));
    const done = out.seen.map((p) => p.narBytesDone);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(out.seen.filter((p) => p.done)).toHaveLength(1);
    // Registered as the cache describes it, through the agent's relay: content address included.
    const [info] = await fx.pathInfo([paths(signed)[0] ?? ""], robot);
    expect(info?.ca).toMatch(/^text:sha256:/);
  });

  it("a second call (a fetch cut mid-way) fetches only what is missing", async () => {
    const robot = fx.store(`robot-${++robots}`);
    const leaf = signed.filter((i) => i.references.length === 0);
    expect((await run(leaf, deps(robot, [cacheUrl]))).result?.done).toBe(true);
    const out = await run(signed, deps(robot, [cacheUrl]));
    expect(out.result?.pathsAlreadyValid).toBe(leaf.length);
    expect(out.result?.narBytesTotal).toBe(
      signed.filter((i) => !leaf.includes(i)).reduce((s, i) => s + i.narSize, 0),
    );
    expect(await fx.validAmong(paths(signed), robot)).toEqual(paths(signed));
  });

  it("refuses a path no trusted key signed with UNTRUSTED, as a push does; nothing becomes valid", async () => {
    const robot = fx.store(`robot-${++robots}`);
    const out = await run(unsigned, deps(robot, [cacheUrl]));
    expect(out.error?.code).toBe("UNTRUSTED");
    expect(out.error?.message).toContain("not signed");
    expect(out.error?.message).toContain(`cache "${cacheUrl}"`);
    expect(await fx.validAmong(paths(unsigned), robot)).toEqual([]);
  });

  it("refuses signed paths when the agent trusts another key (UNTRUSTED)", async () => {
    const other = await NixFixture.create("other-key");
    try {
      const robot = fx.store(`robot-${++robots}`);
      const out = await run(signed, deps(robot, [cacheUrl], [other.publicKey]));
      expect(out.error?.code).toBe("UNTRUSTED");
      expect(await fx.validAmong(paths(signed), robot)).toEqual([]);
    } finally {
      await other.cleanup();
    }
  });

  it("a cache that is down: NOT_FOUND naming it, nothing fetched", async () => {
    const robot = fx.store(`robot-${++robots}`);
    const out = await run(signed, deps(robot, ["http://127.0.0.1:1"]));
    expect(out.error?.code).toBe("NOT_FOUND");
    expect(out.error?.message).toContain("127.0.0.1:1");
    expect(await fx.validAmong(paths(signed), robot)).toEqual([]);
  });

  it("a cache serving a bad NAR: refused by Nix's hash check, that path not valid", async () => {
    const dir = join(fx.root, "bad-cache");
    await cp(join(fx.root, "cache"), dir, { recursive: true });
    const big = signed.find((i) => i.narSize > 1024 * 1024);
    const hash = big?.storePath.slice("/nix/store/".length, "/nix/store/".length + 32);
    const narinfo = await readFile(join(dir, `${hash}.narinfo`), "utf8");
    const url = /^URL: (.*)$/m.exec(narinfo)?.[1] ?? "";
    const nar = await readFile(join(dir, url));
    nar[nar.length - 100] = (nar[nar.length - 100] ?? 0) ^ 0x20;
    await writeFile(join(dir, url), nar);
    const robot = fx.store(`robot-${++robots}`);
    const out = await run(signed, deps(robot, [`file://${dir}`]));
    expect(out.error?.code).toBe("CACHE_BAD_NAR");
    expect(out.error?.message).toContain(
      `cache "file://${dir}" served a bad NAR: the NAR of "${big?.storePath}"`,
    );
    expect(out.error?.message).toContain("does not match the signed NAR hash");
    expect(await fx.validAmong([big?.storePath ?? ""], robot)).toEqual([]);
  }, 60_000);

  it("the controller's --upload-to (nix copy, signed on the way) makes an unsigned build substitutable", async () => {
    const top = await fx.build(diamondExpr("uploaded"));
    const infos = await computeClosure(top, signal(), nix());
    const dir = join(fx.root, "upload-cache");
    await uploadClosure(top, `file://${dir}`, fx.secretKeyFile, signal(), nix());
    const robot = fx.store(`robot-${++robots}`);
    const out = await run(infos, deps(robot, [`file://${dir}`]));
    expect(out.error).toBeUndefined();
    expect(await fx.validAmong(paths(infos), robot)).toEqual(paths(infos));
  }, 60_000);

  it("no substituters configured: FAILED_PRECONDITION; a bad path: INVALID_ARGUMENT", async () => {
    const robot = fx.store(`robot-${++robots}`);
    expect((await run(signed, deps(robot, []))).error?.code).toBe("FAILED_PRECONDITION");
    const bad = await run(
      [{ ...(signed[0] as PathInfo), storePath: "/etc/passwd" }],
      deps(robot, [cacheUrl]),
    );
    expect(bad.error?.code).toBe("INVALID_ARGUMENT");
  });
});
