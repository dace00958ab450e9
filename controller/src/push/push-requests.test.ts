import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeClosure } from "../closure/compute-closure.js";
import { UserError } from "../core/errors.js";
import type { PushProgress } from "./progress-counter.js";
import { type PushStream, pushRequests } from "./push-requests.js";

let fx: NixFixture;
let closure: PathInfo[];
let dumps: Buffer[];
/** One path of 6 MiB of random bytes (incompressible). */
let randomClosure: PathInfo[];
const signal = () => AbortSignal.timeout(30_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });

beforeAll(async () => {
  fx = await NixFixture.create();
  closure = await computeClosure(await fx.build(diamondExpr("requests")), signal(), nix());
  dumps = await Promise.all(closure.map((i) => fx.dump(i.storePath)));
  const dir = mkdtempSync(join(tmpdir(), "rr-random-"));
  writeFileSync(join(dir, "random.bin"), randomBytes(6 * 1024 * 1024));
  randomClosure = await computeClosure(await fx.add(join(dir, "random.bin")), signal(), nix());
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

/** Takes every message, confirming each as written, like a transport that sends at once. */
async function collect(requests: PushStream): Promise<PushPathsRequest[]> {
  const out: PushPathsRequest[] = [];
  for await (const m of requests) {
    out.push(m);
    requests.written(m);
  }
  return out;
}

async function expectNoChildren(): Promise<void> {
  for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(await childProcesses()).toEqual([]);
}

/** Buffer.equals: vitest's deep equality walks megabytes byte by byte. */
function expectSameBytes(a: Buffer, b: Buffer | undefined): void {
  expect(a.length).toBe(b?.length);
  expect(b !== undefined && a.equals(b)).toBe(true);
}

const chunksOf = (ms: PushPathsRequest[]) =>
  ms.flatMap((m) => (m.item?.$case === "chunk" ? [m.item.value.data] : []));
const pathsOf = (ms: PushPathsRequest[]) =>
  ms.flatMap((m) => (m.item?.$case === "path" ? [m.item.value] : []));

describe("pushRequests", () => {
  it("uncompressed: options, then each PathInfo followed by exactly its NAR (as nix-store --dump prints it)", async () => {
    const progress: PushProgress[] = [];
    const ms = await collect(
      pushRequests(
        closure,
        { compression: Compression.COMPRESSION_NONE, nix: nix(), onProgress: (p) => progress.push(p) },
        signal(),
      ),
    );
    expect(ms[0]).toEqual({
      item: {
        $case: "options",
        value: {
          compression: Compression.COMPRESSION_NONE,
          totalNarSize: closure.reduce((n, i) => n + i.narSize, 0),
        },
      },
    });
    let i = 0;
    let nar: Buffer[] = [];
    for (const m of ms.slice(1)) {
      if (m.item?.$case === "path") {
        if (i > 0) expectSameBytes(Buffer.concat(nar), dumps[i - 1]);
        expect(m.item.value).toEqual(closure[i]);
        i++;
        nar = [];
      } else if (m.item?.$case === "chunk") {
        expect(m.item.value.data.length).toBeLessThanOrEqual(256 * 1024);
        nar.push(m.item.value.data);
      }
    }
    expectSameBytes(Buffer.concat(nar), dumps.at(-1));
    const total = closure.reduce((n, p) => n + p.narSize, 0);
    expect(progress.at(-1)).toEqual({
      bytesSent: total,
      bytesTotal: total,
      wireBytesSent: total,
      pathsSent: closure.length,
      pathsTotal: closure.length,
    });
    const sizes = chunksOf(ms).map((c) => c.length);
    // The big path goes out in ~128 KiB messages.
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(128 * 1024);
    await expectNoChildren();
  });

  it.each([
    ["gzip", Compression.COMPRESSION_GZIP, (b: Buffer) => gunzipSync(b)],
    [
      "zstd",
      Compression.COMPRESSION_ZSTD,
      (b: Buffer) => execFileSync("zstd", ["-d", "-c", "-q"], { input: b, maxBuffer: 64 << 20 }),
    ],
  ])("%s: one compressed stream of all NARs, PathInfos in order", async (_n, compression, decompress) => {
    const progress: PushProgress[] = [];
    const ms = await collect(
      pushRequests(closure, { compression, nix: nix(), onProgress: (p) => progress.push(p) }, signal()),
    );
    expect(pathsOf(ms)).toEqual(closure);
    const wire = Buffer.concat(chunksOf(ms));
    expectSameBytes(decompress(wire), Buffer.concat(dumps));
    const last = progress.at(-1);
    expect(last?.bytesSent).toBe(last?.bytesTotal);
    expect(last?.wireBytesSent).toBe(wire.length);
    expect(wire.length).toBeLessThan(Buffer.concat(dumps).length);
    await expectNoChildren();
  });

  it.each([
    ["none", Compression.COMPRESSION_NONE],
    ["zstd", Compression.COMPRESSION_ZSTD],
  ])("%s: progress moves only when the transport confirms a message as written", async (_n, compression) => {
    const progress: PushProgress[] = [];
    const stream = pushRequests(
      randomClosure,
      { compression, nix: nix(), onProgress: (p) => progress.push(p) },
      signal(),
    );
    const taken: PushPathsRequest[] = [];
    for await (const m of stream) taken.push(m);
    expect(progress).toEqual([]);
    const first = taken.find((m) => m.item?.$case === "chunk");
    if (first?.item?.$case !== "chunk") throw new Error("no chunk");
    stream.written(first);
    expect(progress).toHaveLength(1);
    expect(progress[0]?.wireBytesSent).toBe(first.item.value.data.length);
    const total = randomClosure.reduce((n, p) => n + p.narSize, 0);
    // Incompressible: the first chunk carries about its own size of NAR plus what the compressor
    // and the pipes hold (0.6–2 MiB seen single-threaded); zstd -T1 held 8 MiB jobs: all of it here.
    expect(progress[0]?.bytesSent).toBeLessThan(total / 2);
    if (compression === Compression.COMPRESSION_NONE)
      expect(progress[0]?.bytesSent).toBe(first.item.value.data.length);
    // Confirmations of earlier messages after later ones do not move it back.
    for (const m of [...taken].reverse()) stream.written(m);
    expect(progress.at(-1)?.bytesSent).toBe(total);
    expect(progress.at(-1)?.pathsSent).toBe(randomClosure.length);
    expect(progress).toHaveLength(2);
  });

  it.each([
    ["random bytes", () => randomClosure, Compression.COMPRESSION_NONE, /does not compress/],
    ["text", () => closure, Compression.COMPRESSION_ZSTD, /sample: \d+ % of its size/],
  ])(
    "auto, %s: chooses from the first NAR bytes and still sends every byte",
    async (_n, which, want, why) => {
      const infos = which();
      const choices: { compression: Compression; why: string }[] = [];
      const ms = await collect(
        pushRequests(
          infos,
          { compression: "auto", nix: nix(), onCompression: (c) => choices.push(c) },
          signal(),
        ),
      );
      expect(choices).toHaveLength(1);
      expect(choices[0]?.compression).toBe(want);
      expect(choices[0]?.why).toMatch(why);
      const totalNarSize = infos.reduce((n, i) => n + i.narSize, 0);
      expect(ms[0]).toEqual({ item: { $case: "options", value: { compression: want, totalNarSize } } });
      expect(pathsOf(ms)).toEqual(infos);
      const wire = Buffer.concat(chunksOf(ms));
      const nars =
        want === Compression.COMPRESSION_NONE
          ? wire
          : execFileSync("zstd", ["-d", "-c", "-q"], { input: wire, maxBuffer: 64 << 20 });
      const expected = await Promise.all(infos.map((i) => fx.dump(i.storePath)));
      expectSameBytes(nars, Buffer.concat(expected));
      await expectNoChildren();
    },
  );

  it("auto: stopping while it samples stops nix-store", async () => {
    const it = pushRequests(randomClosure, { compression: "auto", nix: nix() }, signal());
    await it.next();
    await it.return(undefined);
    await expectNoChildren();
  });

  it("stops its nix-store and zstd when the consumer stops early", async () => {
    const it = pushRequests(closure, { compression: Compression.COMPRESSION_ZSTD, nix: nix() }, signal());
    await it.next();
    await it.next();
    expect((await childProcesses()).length).toBeGreaterThan(0);
    await it.return(undefined);
    await expectNoChildren();
  });

  it("stops when aborted, with the abort reason", async () => {
    const ac = new AbortController();
    let n = 0;
    const run = async () => {
      for await (const _ of pushRequests(
        closure,
        { compression: Compression.COMPRESSION_NONE, nix: nix() },
        ac.signal,
      )) {
        if (++n === 3) ac.abort(new Error("interrupted"));
      }
    };
    await expect(run()).rejects.toThrow("interrupted");
    await expectNoChildren();
  });

  it("refuses to send a path whose bytes no longer match its recorded hash", async () => {
    const big = closure.findIndex((i) => i.narSize > 1024 * 1024);
    const lying = closure.map((info, i) =>
      i === big ? { ...info, narHash: closure[0]?.narHash ?? "" } : info,
    );
    const seen: PushPathsRequest[] = [];
    const run = async () => {
      for await (const m of pushRequests(
        lying,
        { compression: Compression.COMPRESSION_NONE, nix: nix() },
        signal(),
      )) {
        seen.push(m);
      }
    };
    await expect(run()).rejects.toThrow(/no longer matches its NAR hash/);
    const sentOfBig = chunksOf(
      seen.slice(seen.findIndex((m) => m.item?.$case === "path" && m.item.value === lying[big])),
    );
    expect(sentOfBig.reduce((n, c) => n + c.length, 0)).toBeLessThan(closure[big]?.narSize ?? 0);
    await expectNoChildren();
  });

  it("says how to fix a missing zstd", async () => {
    const run = collect(
      pushRequests(
        closure,
        { compression: Compression.COMPRESSION_ZSTD, nix: nix(), zstdBin: "/nonexistent/zstd" },
        signal(),
      ),
    );
    const e = await run.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/install zstd or push with gzip/);
  });
});
