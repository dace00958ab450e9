// receivePush refuses malformed streams, and stops nix (and zstd) when its push is aborted.
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { NONE, useRefusalRig } from "./push-refusal-rig.js";

const { signed, refusedPush, edited, bigIndex } = useRefusalRig();

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
