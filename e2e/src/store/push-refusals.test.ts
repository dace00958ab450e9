import { readFile } from "node:fs/promises";
import type { PushObserver, RefusalReason } from "@ros-rollback/agent/testing";
import { NixCliStore, receivePush } from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { type NixSecretKey, parseSecretKey, parseTrustedKeys, signPath } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let fx: NixFixture;
let signed: PathInfo[];
let unsigned: PathInfo[];
let key: NixSecretKey;
let robots = 0;

const signal = () => AbortSignal.timeout(60_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });
const NONE = Compression.COMPRESSION_NONE;

beforeAll(async () => {
  fx = await NixFixture.create();
  const top = await fx.build(diamondExpr("signed"));
  await fx.sign(top);
  signed = await computeClosure(top, signal(), nix());
  unsigned = await computeClosure(await fx.build(diamondExpr("unsigned")), signal(), nix());
  key = parseSecretKey(await readFile(fx.secretKeyFile, "utf8"));
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

interface Outcome {
  error: { code?: string; message: string };
  refused: [string, RefusalReason][];
  valid: string[];
}

/** Pushes `requests` into a fresh robot store; the push must fail. Reports how, and what is valid afterwards. */
async function refusedPush(
  requests: AsyncIterable<PushPathsRequest>,
  zstdBin?: string,
  abort = signal(),
): Promise<Outcome> {
  const storeUri = fx.store(`robot-${++robots}`);
  const refused: [string, RefusalReason][] = [];
  const observer: PushObserver = { pathRefused: (p, why) => refused.push([p, why]) };
  const store = new NixCliStore({ storeUri, env: fx.env });
  const error = await receivePush(
    requests,
    { store, trustedKeys: parseTrustedKeys([fx.publicKey]), observer, decompress: { zstdBin } },
    abort,
  ).then(
    () => expect.unreachable("the push should have been refused"),
    (e: unknown) => e as Outcome["error"],
  );
  const all = [...signed, ...unsigned].map((i) => i.storePath);
  await expectNoChildren();
  return { error, refused, valid: await fx.validAmong(all, storeUri) };
}

/** The agent's processes are gone when receivePush settles; the controller generator's die just after. */
async function expectNoChildren(): Promise<void> {
  for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(await childProcesses()).toEqual([]);
}

/** The controller's stream with `edit` applied to each message. */
async function* edited(
  infos: PathInfo[],
  edit: (m: PushPathsRequest, path: string) => PushPathsRequest | undefined,
  compression = NONE,
): AsyncGenerator<PushPathsRequest> {
  let path = "";
  for await (const m of pushRequests(infos, { compression, nix: nix() }, signal())) {
    if (m.item?.$case === "path") path = m.item.value.storePath;
    const out = edit(m, path);
    if (out !== undefined) yield out;
  }
}

const resign = (info: PathInfo): PathInfo => ({ ...info, signatures: [signPath(info, key)] });
const bigIndex = (): number => signed.findIndex((i) => i.narSize > 1024 * 1024);
/** The controller's stream with one byte of `target`'s first or last chunk flipped (`at` < 0: from its end). */
async function* tampered(
  infos: PathInfo[],
  target: string,
  where: "first" | "last",
  at: number,
): AsyncGenerator<PushPathsRequest> {
  const flip = (m: PushPathsRequest): PushPathsRequest => {
    if (m.item?.$case !== "chunk") throw new Error("not a chunk");
    const data = Buffer.from(m.item.value.data);
    const o = at < 0 ? data.length + at : at;
    data[o] = (data[o] ?? 0) ^ 0x20;
    return { item: { $case: "chunk", value: { data } } };
  };
  let path = "";
  let held: PushPathsRequest | undefined; // target's latest chunk, until we know whether it is the last
  let done = false;
  for await (const m of pushRequests(infos, { compression: NONE, nix: nix() }, signal())) {
    if (m.item?.$case === "path") path = m.item.value.storePath;
    const ours = m.item?.$case === "chunk" && path === target && !done;
    if (held !== undefined && !ours) {
      yield flip(held);
      held = undefined;
      done = true;
    }
    if (!ours) yield m;
    else if (where === "first") {
      yield flip(m);
      done = true;
    } else {
      if (held !== undefined) yield held;
      held = m;
    }
  }
  if (held !== undefined) yield flip(held);
}

describe("receivePush refuses, and leaves nothing refused valid", () => {
  it("an unsigned path (UNTRUSTED)", async () => {
    const out = await refusedPush(pushRequests(unsigned, { compression: NONE, nix: nix() }, signal()));
    expect(out.error.code).toBe("UNTRUSTED");
    expect(out.error.message).toContain(unsigned[0]?.storePath);
    expect(out.error.message).toContain("not signed");
    expect(out.refused).toEqual([[unsigned[0]?.storePath, "untrusted"]]);
    expect(out.valid).toEqual([]);
  });

  // The agent does not hash: nix refuses these itself before registering (parse, hash, then size checks).
  it.each([
    ["in a file's contents", bigIndex, "first", 1000, "hash mismatch"],
    ["in the archive's magic", (): number => 1, "first", 20, "malformed NAR"],
    ["in a length (the magic's, now ~2^63)", (): number => 1, "first", 7, "malformed NAR"],
    [
      'in a length (the "(" tag\'s, now ~2^61)',
      (): number => 1,
      "first",
      31,
      "a length it cannot allocate (out of memory)",
    ],
    [
      "in the last path's padding, its very last byte",
      (): number => signed.length - 1,
      "last",
      -1,
      "malformed NAR",
    ],
  ] as const)(
    "tampered NAR bytes %s (HASH_MISMATCH); the good paths before it stay imported",
    async (_what, index, where, at, nixSays) => {
      const i = index();
      const target = signed[i]?.storePath ?? "";
      const out = await refusedPush(tampered(signed, target, where, at));
      expect(out.error.code).toBe("HASH_MISMATCH");
      expect(out.error.message).toContain(
        `${target}" refused: its NAR bytes do not match the announced NAR hash and size (nix: ${nixSays})`,
      );
      expect(out.refused).toEqual([[target, "hash_mismatch"]]);
      expect(out.valid).toEqual(signed.slice(0, i).map((p) => p.storePath));
    },
  );

  it("tampered compressed bytes (refused by the decompressor or the hash)", async () => {
    let n = 0;
    const out = await refusedPush(
      edited(
        signed,
        (m) => {
          if (m.item?.$case !== "chunk" || ++n !== 3) return m;
          const data = Buffer.from(m.item.value.data);
          data[data.length >> 1] = (data[data.length >> 1] ?? 0) ^ 0xff;
          return { item: { $case: "chunk", value: { data } } };
        },
        Compression.COMPRESSION_ZSTD,
      ),
    );
    expect(n).toBeGreaterThan(3);
    expect(["INVALID_ARGUMENT", "HASH_MISMATCH"]).toContain(out.error.code);
    expect(out.valid.length).toBeLessThan(signed.length);
  });

  it("a changed NAR size without a new signature (UNTRUSTED)", async () => {
    const out = await refusedPush(
      edited(signed, (m) =>
        m.item?.$case === "path"
          ? { item: { $case: "path", value: { ...m.item.value, narSize: m.item.value.narSize + 8 } } }
          : m,
      ),
    );
    expect(out.error.code).toBe("UNTRUSTED");
    expect(out.error.message).toContain("bad signature");
    expect(out.valid).toEqual([]);
  });

  it("a signed but wrong NAR size: too small (HASH_MISMATCH)", async () => {
    const big = bigIndex();
    const target = signed[big]?.storePath ?? "";
    const out = await refusedPush(
      edited(signed, (m) =>
        m.item?.$case === "path" && m.item.value.storePath === target
          ? { item: { $case: "path", value: resign({ ...m.item.value, narSize: m.item.value.narSize - 8 }) } }
          : m,
      ),
    );
    expect(out.error.code).toBe("HASH_MISMATCH");
    expect(out.error.message).toContain(
      `${target}" refused: its NAR bytes do not match the announced NAR hash and size (nix: the NAR goes on past its size)`,
    );
    expect(out.refused).toEqual([[target, "hash_mismatch"]]);
    expect(out.valid).toEqual(signed.slice(0, big).map((i) => i.storePath));
  });

  it("a signed but wrong NAR size: bigger than the bytes sent (HASH_MISMATCH)", async () => {
    const last = signed.at(-1)?.storePath ?? "";
    const out = await refusedPush(
      edited(signed, (m) =>
        m.item?.$case === "path" && m.item.value.storePath === last
          ? { item: { $case: "path", value: resign({ ...m.item.value, narSize: m.item.value.narSize + 8 }) } }
          : m,
      ),
    );
    expect(out.error.code).toBe("HASH_MISMATCH");
    expect(out.error.message).toContain(`${last}" refused: the push ended 8 bytes short`);
    expect(out.valid).toEqual(signed.slice(0, -1).map((i) => i.storePath));
  });

  it("references that are neither valid nor pushed before (INVALID_ARGUMENT, before importing)", async () => {
    const out = await refusedPush(
      pushRequests([...signed].reverse(), { compression: NONE, nix: nix() }, signal()),
    );
    expect(out.error.code).toBe("INVALID_ARGUMENT");
    expect(out.error.message).toContain("dependency order");
    expect(out.error.message).toContain(signed.at(-1)?.storePath);
    expect(out.refused).toEqual([[signed.at(-1)?.storePath, "missing_reference"]]);
    expect(out.valid).toEqual([]);
  });

  it("what nix itself refuses (a wrong content address) as EXTERNAL_COMMAND_FAILED naming the path", async () => {
    const victim = signed[1] as PathInfo;
    const wrongCa = (signed[0] as PathInfo).ca;
    expect(wrongCa).not.toBe(victim.ca);
    const out = await refusedPush(
      edited(signed, (m) =>
        m.item?.$case === "path" && m.item.value.storePath === victim.storePath
          ? { item: { $case: "path", value: { ...m.item.value, ca: wrongCa } } }
          : m,
      ),
    );
    expect(out.error.code).toBe("EXTERNAL_COMMAND_FAILED");
    expect(out.error.message).toContain(`failed importing "${victim.storePath}"`);
    expect(out.error.message).toContain("ca hash mismatch");
    expect(out.valid).toEqual([signed[0]?.storePath]);
  });

  it.each([
    ["a bad store path", (i: PathInfo) => ({ ...i, storePath: i.storePath.replace("-", "-../") })],
    ["a bad reference", (i: PathInfo) => ({ ...i, references: ["/etc/passwd"] })],
    ["a malformed NAR hash", (i: PathInfo) => ({ ...i, narHash: "sha256:nope" })],
    ["a zero NAR size", (i: PathInfo) => ({ ...i, narSize: 0 })],
  ])("%s (INVALID_ARGUMENT)", async (_what, edit) => {
    const out = await refusedPush(
      edited(signed, (m) =>
        m.item?.$case === "path" ? { item: { $case: "path", value: edit(m.item.value) } } : m,
      ),
    );
    expect(out.error.code).toBe("INVALID_ARGUMENT");
    expect(out.refused.map(([, why]) => why)).toEqual(["invalid"]);
    expect(out.valid).toEqual([]);
  });
});

describe("receivePush refuses malformed streams", () => {
  async function* messages(...ms: PushPathsRequest[]): AsyncGenerator<PushPathsRequest> {
    yield* ms;
  }
  const options = (compression = NONE): PushPathsRequest => ({
    item: { $case: "options", value: { compression, totalNarSize: 0 } },
  });
  const chunk = (data: Buffer): PushPathsRequest => ({ item: { $case: "chunk", value: { data } } });
  const path = (value: PathInfo): PushPathsRequest => ({ item: { $case: "path", value } });
  const first = () => signed[0] as PathInfo;

  it("without PushOptions first", async () => {
    const out = await refusedPush(messages(path(first())));
    expect(out.error).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("PushOptions"),
    });
  });

  it("with NAR bytes before any PathInfo", async () => {
    const out = await refusedPush(messages(options(), chunk(Buffer.alloc(100))));
    expect(out.error).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("beyond the paths"),
    });
  });

  it("with a path announced but no bytes", async () => {
    const out = await refusedPush(messages(options(), path(first())));
    expect(out.error).toMatchObject({
      code: "HASH_MISMATCH",
      message: expect.stringContaining("no NAR bytes"),
    });
  });

  it("with zstd when the robot has no zstd (FAILED_PRECONDITION)", async () => {
    const out = await refusedPush(messages(options(Compression.COMPRESSION_ZSTD)), "/nonexistent/zstd");
    expect(out.error).toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringContaining("zstd"),
    });
  });

  it("with garbage instead of gzip", async () => {
    const out = await refusedPush(
      messages(options(Compression.COMPRESSION_GZIP), path(first()), chunk(Buffer.alloc(1000, 1))),
    );
    expect(out.error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("gzip") });
  });
});

describe("receivePush when aborted", () => {
  it.each([
    ["none", NONE],
    ["zstd", Compression.COMPRESSION_ZSTD],
  ])(
    "(%s) stops nix (and zstd), reports ABORTED, leaves the partial path invalid",
    async (_n, compression) => {
      const ac = new AbortController();
      let chunks = 0;
      const stream = edited(
        signed,
        (m) => {
          if (m.item?.$case === "chunk" && ++chunks === 4) ac.abort(new Error("client went away"));
          return m;
        },
        compression,
      );
      const out = await refusedPush(stream, undefined, ac.signal);
      expect(chunks).toBe(4);
      expect(out.error.code).toBe("ABORTED");
      expect(out.valid).not.toContain(signed[bigIndex()]?.storePath);
    },
  );
});
