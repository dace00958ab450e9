// receivePush refuses what it must (unsigned, tampered, wrong sizes, missing references, what nix
// refuses) and leaves nothing refused valid. Malformed streams and aborts: push-malformed.test.ts.
import { pushRequests } from "@ros-rollback/controller/testing";
import { Compression, type PathInfo } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { NONE, useRefusalRig } from "./push-refusal-rig.js";

const { signed, unsigned, signal, nix, refusedPush, edited, resign, bigIndex, tampered } = useRefusalRig();

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
