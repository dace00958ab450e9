import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isNixFormatError } from "./errors.js";
import { canonicalNarHash, formatNarHash, parseNarHash } from "./nar-hash.js";

const digest = createHash("sha256").update("abc").digest();
const BASE32 = "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";

describe("NAR hashes", () => {
  it.each([
    `sha256:${BASE32}`,
    `sha256:${digest.toString("hex")}`,
    `sha256:${digest.toString("hex").toUpperCase()}`,
    `sha256:${digest.toString("base64")}`,
    `sha256-${digest.toString("base64")}`,
  ])("parses %s to the raw digest", (text) => {
    expect(Buffer.from(parseNarHash(text) ?? [])).toEqual(digest);
    expect(canonicalNarHash(text, "/nix/store/x")).toBe(`sha256:${BASE32}`);
  });

  it("formats sha256:<base32>, and refuses a digest of another length", () => {
    expect(formatNarHash(digest)).toBe(`sha256:${BASE32}`);
    expect(() => formatNarHash(digest.subarray(1))).toThrow(/32-byte/);
  });

  it.each([
    "",
    BASE32,
    `md5:${BASE32}`,
    `sha512-${digest.toString("base64")}`,
    `sha256:${BASE32.slice(1)}`,
    `sha256:z${BASE32.slice(1)}`,
    `sha256-${digest.toString("base64").slice(0, -1)}`,
    `sha256:${digest.toString("hex")}0`,
  ])("refuses %j", (text) => {
    expect(parseNarHash(text)).toBeUndefined();
  });

  it("names the path when the hash is malformed", () => {
    try {
      canonicalNarHash("sha256:nope", "/nix/store/wzflyq5q9kjg4p27yck2nnispnblxsnh-a");
      expect.unreachable();
    } catch (e) {
      expect(isNixFormatError(e) && e.code).toBe("NAR_HASH");
      expect((e as Error).message).toContain("wzflyq5q9kjg4p27yck2nnispnblxsnh-a");
    }
  });
});
