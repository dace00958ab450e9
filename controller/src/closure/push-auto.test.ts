import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NixFixture } from "../../../nix-core/src/testing/nix-fixture.js";
import { computeClosure } from "./compute-closure.js";
import type { PipelineMeasure } from "./link-probe.js";
import { type PushStream, pushRequests } from "./push-requests.js";

let fx: NixFixture;
/** Three paths of 4 MiB of hex text each: zstd halves them, more than the pipeline buffers. */
let infos: PathInfo[];
let dumps: Buffer[];
const signal = () => AbortSignal.timeout(30_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });

beforeAll(async () => {
  fx = await NixFixture.create();
  const dir = mkdtempSync(join(tmpdir(), "rr-hex-"));
  infos = [];
  for (const name of ["a", "b", "c"]) {
    writeFileSync(join(dir, name), randomBytes(2 * 1024 * 1024).toString("hex"));
    infos.push(...(await computeClosure(await fx.add(join(dir, name)), signal(), nix())));
  }
  dumps = await Promise.all(infos.map((i) => fx.dump(i.storePath)));
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

/** Takes every message; the clock moves `linkMs` while each message is "on the link". */
async function drain(stream: PushStream, clock: { t: number }, linkMs: number): Promise<PushPathsRequest[]> {
  const out: PushPathsRequest[] = [];
  for await (const m of stream) {
    out.push(m);
    clock.t += linkMs;
    stream.written(m);
  }
  return out;
}

const pathsOf = (ms: PushPathsRequest[]) =>
  ms.flatMap((m) => (m.item?.$case === "path" ? [m.item.value] : []));
const wireOf = (ms: PushPathsRequest[]) =>
  Buffer.concat(ms.flatMap((m) => (m.item?.$case === "chunk" ? [m.item.value.data] : [])));
const unzstd = (b: Buffer) => execFileSync("zstd", ["-d", "-c", "-q"], { input: b, maxBuffer: 64 << 20 });

describe("auto on compressible data: the link probe", () => {
  it("a link that outruns zstd: stops at the next path boundary; the rest goes in a stream of its own, uncompressed", async () => {
    const clock = { t: 0 };
    const choices: { compression: Compression; why: string }[] = [];
    const stream = pushRequests(
      infos,
      {
        compression: "auto",
        nix: nix(),
        now: () => clock.t,
        onCompression: (c) => choices.push(c),
        linkProbe: { skipWireBytes: 0, wireBytes: 64 * 1024, decide: () => true },
      },
      signal(),
    );
    const first = await drain(stream, clock, 0);
    // The decision comes within the first path's 4 MiB (the pipeline holds ~1.5 MiB): it stops after it.
    expect(stream.rest()).toBe(1);
    expect(pathsOf(first)).toEqual(infos.slice(0, 1));
    expect(first[0]).toEqual({
      item: { $case: "options", value: { compression: Compression.COMPRESSION_ZSTD } },
    });
    expect(unzstd(wireOf(first)).equals(dumps[0] as Buffer)).toBe(true);
    expect(choices.map((c) => c.compression)).toEqual([
      Compression.COMPRESSION_ZSTD,
      Compression.COMPRESSION_NONE,
    ]);
    expect(choices[1]?.why).toMatch(
      /^from path 2 of 3 on: the link outruns zstd \(over 0 MiB the transport waited/,
    );

    const second = pushRequests(
      infos.slice(1),
      { compression: Compression.COMPRESSION_NONE, nix: nix() },
      signal(),
    );
    const rest = await drain(second, clock, 0);
    expect(pathsOf(rest)).toEqual(infos.slice(1));
    expect(wireOf(rest).equals(Buffer.concat(dumps.slice(1)))).toBe(true);
    expect(second.rest()).toBeUndefined();
  });

  it("measures with the injected clock: a slow link (time passes while messages are on it) keeps zstd to the end", async () => {
    const clock = { t: 0 };
    const measures: PipelineMeasure[] = [];
    const stream = pushRequests(
      infos,
      {
        compression: "auto",
        nix: nix(),
        now: () => clock.t,
        linkProbe: {
          skipWireBytes: 128 * 1024,
          wireBytes: 256 * 1024,
          decide: (m) => {
            measures.push(m);
            return false;
          },
        },
      },
      signal(),
    );
    const ms = await drain(stream, clock, 10);
    expect(stream.rest()).toBeUndefined();
    expect(pathsOf(ms)).toEqual(infos);
    expect(unzstd(wireOf(ms)).equals(Buffer.concat(dumps))).toBe(true);
    expect(measures).toHaveLength(1);
    const m = measures[0] as PipelineMeasure;
    // Every measured chunk spent 10 ms on the link and none waiting for zstd (the clock stood still).
    expect(m.waitedForCompressorMs).toBe(0);
    expect(m.wireBytes).toBeGreaterThanOrEqual(256 * 1024);
    expect(m.waitedForLinkMs).toBeGreaterThan(0);
    expect(m.waitedForLinkMs % 10).toBe(0);
  });
});
