import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childProcesses, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeClosure } from "../closure/compute-closure.js";
import { pushRequests } from "./push-requests.js";

// auto on compressible data through pushRequests: the real store, zstd and stream; a fake link
// takes each message for a while on a fake clock, and the agent's reports say how long its reads waited.

let fx: NixFixture;
/** Three paths of 4 MiB of hex text each: zstd halves them. */
let infos: PathInfo[];
let dumps: Buffer[];
const signal = () => AbortSignal.timeout(30_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });
const MiB = 1024 * 1024;

beforeAll(async () => {
  fx = await NixFixture.create();
  const dir = mkdtempSync(join(tmpdir(), "rr-hex-"));
  infos = [];
  for (const name of ["a", "b", "c"]) {
    writeFileSync(join(dir, name), randomBytes(2 * MiB).toString("hex"));
    infos.push(...(await computeClosure(await fx.add(join(dir, name)), signal(), nix())));
  }
  dumps = await Promise.all(infos.map((i) => fx.dump(i.storePath)));
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

const wireOf = (ms: PushPathsRequest[]) =>
  Buffer.concat(ms.flatMap((m) => (m.item?.$case === "chunk" ? [m.item.value.data] : [])));
const unzstd = (b: Buffer) =>
  execFileSync("zstd", ["-d", "-c", "-q", "--memory=32MB"], { input: b, maxBuffer: 64 << 20 });
/** Raw zstd blocks carry the NAR in clear: a run of 4 KiB of the last path is on the wire as it is. */
const carriesRaw = (wire: Buffer, nar: Buffer) =>
  wire.includes(nar.subarray(nar.length - 8192, nar.length - 4096));

/**
 * A link taking `bytesPerSecond` of wire (the stream waits for it); with `reports`, the agent says what
 * it consumed every 256 KiB, its reads having waited `starved` of the time.
 */
async function autoPush(bytesPerSecond: number, starved: number, reports = true) {
  const clock = { t: 0 };
  const choices: { compression: Compression; why: string }[] = [];
  const stream = pushRequests(
    infos,
    { compression: "auto", nix: nix(), now: () => clock.t, onCompression: (c) => choices.push(c) },
    signal(),
  );
  const messages: PushPathsRequest[] = [];
  let wire = 0;
  let reported = 0;
  for await (const m of stream) {
    messages.push(m);
    stream.written(m);
    if (m.item?.$case !== "chunk") continue;
    wire += m.item.value.data.length;
    clock.t += (m.item.value.data.length * 1000) / bytesPerSecond;
    if (reports && wire - reported >= 256 * 1024) {
      reported = wire;
      stream.agentProgress({ wireBytes: wire, waitedUs: clock.t * 1000 * starved });
    }
  }
  return { messages, choices, wire: wireOf(messages) };
}

describe("auto on compressible data: zstd while the link is the bottleneck", () => {
  it("the robot's import is the bottleneck (its reads hardly wait): the rest goes as raw zstd frames in the same stream", async () => {
    const { messages, choices, wire } = await autoPush(8 * MiB, 0.1);
    expect(messages.filter((m) => m.item?.$case === "options")).toEqual([
      {
        item: {
          $case: "options",
          value: {
            compression: Compression.COMPRESSION_ZSTD,
            totalNarSize: infos.reduce((n, i) => n + i.narSize, 0),
          },
        },
      },
    ]);
    expect(messages.flatMap((m) => (m.item?.$case === "path" ? [m.item.value] : []))).toEqual(infos);
    expect(unzstd(wire).equals(Buffer.concat(dumps))).toBe(true);
    expect(carriesRaw(wire, dumps[2] as Buffer)).toBe(true);
    expect(choices.map((c) => c.compression)).toEqual([
      Compression.COMPRESSION_ZSTD,
      Compression.COMPRESSION_NONE,
    ]);
    expect(choices[1]?.why).toMatch(/^uncompressed from here \(.*the agent took 8\.0 MiB\/s/);
  });

  it("a slow link (the stream waits for it, the agent for the network): zstd to the end", async () => {
    const { choices, wire } = await autoPush(2 * MiB, 0.9);
    expect(unzstd(wire).equals(Buffer.concat(dumps))).toBe(true);
    expect(carriesRaw(wire, dumps[2] as Buffer)).toBe(false);
    expect(wire.length).toBeLessThan(Buffer.concat(dumps).length * 0.75);
    expect(choices.map((c) => c.compression)).toEqual([
      Compression.COMPRESSION_ZSTD,
      Compression.COMPRESSION_ZSTD,
    ]);
    expect(choices[1]?.why).toMatch(/^the link is the bottleneck, zstd to the end/);
  });

  it("no reports (gRPC, or a version 1 agent): zstd to the end", async () => {
    const { choices, wire } = await autoPush(8 * MiB, 0.1, false);
    expect(carriesRaw(wire, dumps[2] as Buffer)).toBe(false);
    expect(choices.map((c) => c.compression)).toEqual([Compression.COMPRESSION_ZSTD]);
  });

  it("a consumer that stops after the switch: zstd and nix-store stop too", async () => {
    const clock = { t: 0 };
    let switched = false;
    const stream = pushRequests(
      infos,
      {
        compression: "auto",
        nix: nix(),
        now: () => clock.t,
        onCompression: (c) => {
          switched ||= c.compression === Compression.COMPRESSION_NONE;
        },
      },
      signal(),
    );
    let wire = 0;
    for (let r = await stream.next(); r.done !== true && !switched; r = await stream.next()) {
      if (r.value.item?.$case !== "chunk") continue;
      wire += r.value.item.value.data.length;
      clock.t += 10;
      stream.agentProgress({ wireBytes: wire, waitedUs: 0 });
    }
    expect(switched).toBe(true);
    await stream.next();
    await stream.return(undefined);
    for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await childProcesses()).toEqual([]);
  });
});
