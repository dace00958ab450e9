import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNixFormatError } from "./errors.js";
import { SERVE_CLIENT_VERSION, SERVE_MAGIC_1, SERVE_MAGIC_2, ServeCommand } from "./serve-protocol.js";
import { NixFixture } from "./testing/nix-fixture.js";
import { ByteReader, isEndOfStream, str, strs, u64 } from "./wire.js";

/** A byte stream that arrives in pieces of `size` bytes (framing must not depend on how reads split). */
async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

function formatErrorCode(e: unknown): string | undefined {
  return isNixFormatError(e) ? e.code : undefined;
}

describe("serve-protocol framing against a real nix-store --serve", () => {
  let fx: NixFixture;
  let path: string;

  beforeAll(async () => {
    fx = await NixFixture.create();
    path = await fx.build('builtins.toFile "wire-a" "some bytes to dump"');
  }, 60_000);

  afterAll(async () => {
    await fx.cleanup();
  });

  it("does the handshake, asks validity and reads a dumped NAR exactly as nix-store --dump gives it", async () => {
    const child = spawn("nix-store", ["--store", fx.sourceStore, "--serve"], {
      stdio: ["pipe", "pipe", "inherit"],
      env: fx.env,
    });
    const exited = once(child, "close");
    const missing = "/nix/store/00000000000000000000000000000000-missing";
    child.stdin.end(
      Buffer.concat([
        u64(SERVE_MAGIC_1),
        u64(SERVE_CLIENT_VERSION),
        u64(ServeCommand.QueryValidPaths),
        u64(0), // lock
        u64(0), // substitute
        strs([path, missing]),
        u64(ServeCommand.DumpStorePath),
        str(path),
      ]),
    );
    const reader = new ByteReader(child.stdout);
    expect(await reader.u64("magic")).toBe(SERVE_MAGIC_2);
    expect((await reader.u64("version")) & 0xff00).toBe(0x200);
    expect(await reader.strings("valid paths", 2, 4096)).toEqual([path]);
    const nar = await fx.dump(path);
    expect(await reader.exactly(nar.length, "NAR")).toEqual(nar);
    expect(await reader.next(1)).toBeUndefined();
    expect(await exited).toEqual([0, null]);
  });
});

describe("framing", () => {
  it("pads strings to 8 bytes and reads them back however the stream is split", async () => {
    const data = Buffer.concat([str("abc"), strs(["", "12345678", "x"]), u64(2 ** 40)]);
    expect(str("abc")).toEqual(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0]));
    for (const size of [1, 3, 8, data.length]) {
      const r = new ByteReader(pieces(data, size));
      expect(await r.string("s", 10)).toBe("abc");
      expect(await r.strings("list", 3, 8)).toEqual(["", "12345678", "x"]);
      expect(await r.u64("n")).toBe(2 ** 40);
      expect(await r.next(1)).toBeUndefined();
    }
  });

  it("throws NixFormatError(END_OF_STREAM) when the stream ends inside a value", async () => {
    const e = await new ByteReader(pieces(str("abcdefghij").subarray(0, 13), 4))
      .string("name", 100)
      .catch((x: unknown) => x);
    expect(formatErrorCode(e)).toBe("END_OF_STREAM");
    expect(isEndOfStream(e)).toBe(true);
    expect((e as Error).message).toContain("name");
  });

  it("throws NixFormatError(WIRE) for values beyond their bounds, before reading them", async () => {
    const tooLong = await new ByteReader(pieces(str("abcdefghi"), 8)).string("s", 8).catch((x: unknown) => x);
    expect(formatErrorCode(tooLong)).toBe("WIRE");
    const tooMany = await new ByteReader(pieces(strs(["a", "b", "c"]), 8))
      .strings("list", 2, 8)
      .catch((x: unknown) => x);
    expect(formatErrorCode(tooMany)).toBe("WIRE");
    const huge = await new ByteReader(pieces(u64(2n ** 63n), 8)).u64("n").catch((x: unknown) => x);
    expect(formatErrorCode(huge)).toBe("WIRE");
    expect(isEndOfStream(huge)).toBe(false);
  });
});
