import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { decodeNixBase32, encodeNixBase32, nixBase32Length } from "./base32.js";

const run = promisify(execFile);

describe("nix base32", () => {
  it("matches Nix's published vectors (sha256 and sha1 of 'abc')", () => {
    const sha256 = createHash("sha256").update("abc").digest();
    expect(encodeNixBase32(sha256)).toBe("1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s");
    const sha1 = createHash("sha1").update("abc").digest();
    expect(encodeNixBase32(sha1)).toBe("kpcd173cq987hw957sx6m0868wv3x6d9");
  });

  it("agrees with the nix-hash CLI on random digests, both ways", async () => {
    for (let i = 0; i < 5; i++) {
      const digest = randomBytes(32);
      const { stdout } = await run("nix-hash", ["--type", "sha256", "--to-base32", digest.toString("hex")]);
      expect(encodeNixBase32(digest)).toBe(stdout.trim());
      expect(Buffer.from(decodeNixBase32(stdout.trim(), 32) ?? [])).toEqual(digest);
    }
  });

  it("round-trips every length Nix uses", () => {
    for (const size of [16, 20, 32, 64]) {
      const bytes = randomBytes(size);
      const text = encodeNixBase32(bytes);
      expect(text).toHaveLength(nixBase32Length(size));
      expect(Buffer.from(decodeNixBase32(text, size) ?? [])).toEqual(bytes);
    }
    expect(nixBase32Length(32)).toBe(52);
    expect(nixBase32Length(20)).toBe(32);
  });

  it("refuses bad characters, wrong lengths and bits beyond the digest", () => {
    const good = encodeNixBase32(randomBytes(32));
    expect(decodeNixBase32(`e${good.slice(1)}`, 32)).toBeUndefined(); // 'e' is not in the alphabet
    expect(decodeNixBase32(good.slice(1), 32)).toBeUndefined();
    // 52 chars carry 260 bits; the first character may only use the low bit.
    expect(decodeNixBase32(`z${"0".repeat(51)}`, 32)).toBeUndefined();
    expect(decodeNixBase32(`1${"0".repeat(51)}`, 32)).toBeDefined();
  });
});
