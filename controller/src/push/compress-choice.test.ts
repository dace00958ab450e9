import { randomBytes } from "node:crypto";
import { Compression } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { chooseCompression, INCOMPRESSIBLE_RATIO, MIN_SAMPLE_BYTES, sampleRatio } from "./compress-choice.js";

const MiB = 1024 * 1024;

describe("chooseCompression", () => {
  it("incompressible data: none, saying why", () => {
    const c = chooseCompression({ sampleRatio: 0.99, sampleBytes: MiB });
    expect(c.compression).toBe(Compression.COMPRESSION_NONE);
    expect(c.why).toBe("the data does not compress (sample: 99 % of its size)");
  });

  it("compressible data: zstd (the link is measured on the way), saying why", () => {
    expect(chooseCompression({ sampleRatio: 0.3, sampleBytes: MiB })).toEqual({
      compression: Compression.COMPRESSION_ZSTD,
      why: "sample: 30 % of its size",
    });
  });

  it("the threshold itself", () => {
    const at = (ratio: number) =>
      chooseCompression({ sampleRatio: ratio, sampleBytes: MIN_SAMPLE_BYTES }).compression;
    expect(at(INCOMPRESSIBLE_RATIO)).toBe(Compression.COMPRESSION_ZSTD);
    expect(at(INCOMPRESSIBLE_RATIO + 0.01)).toBe(Compression.COMPRESSION_NONE);
  });

  it("too small a sample decides nothing: zstd (small pushes are cheap either way)", () => {
    const c = chooseCompression({ sampleRatio: 1, sampleBytes: MIN_SAMPLE_BYTES - 1 });
    expect(c).toEqual({ compression: Compression.COMPRESSION_ZSTD, why: "small push" });
  });
});

describe("sampleRatio", () => {
  it("random bytes stay ~100 %, text shrinks, nothing is 1", () => {
    expect(sampleRatio([randomBytes(MiB / 2), randomBytes(MiB / 2)]).ratio).toBeGreaterThan(0.99);
    const text = Buffer.from("ELF\0 /nix/store/abc-glibc/lib/libc.so.6 GLIBC_2.34\n".repeat(20_000));
    const r = sampleRatio([text]);
    expect(r.bytes).toBe(text.length);
    expect(r.ratio).toBeLessThan(0.2);
    expect(sampleRatio([])).toEqual({ ratio: 1, bytes: 0 });
  });
});
