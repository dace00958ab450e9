import { describe, expect, it } from "vitest";
import { isNixFormatError } from "./errors.js";
import { isStorePath, storePathProblem, validateStorePath } from "./store-path.js";

const HASH = "wzflyq5q9kjg4p27yck2nnispnblxsnh";

describe("store paths", () => {
  it.each([
    `/nix/store/${HASH}-a.txt`,
    `/nix/store/${HASH}-nixos-system-robot-25.05.20250101.abcdef`,
    `/nix/store/${HASH}-python3.12-foo+bar_baz?=x`,
    `/nix/store/${HASH}-a.b-c`,
  ])("accepts %s", (p) => {
    expect(storePathProblem(p)).toBeUndefined();
  });

  it.each([
    ["/nix/store", "not in"],
    [`/nix/store/${HASH}`, "no '-'"],
    [`/nix/store/${HASH}-`, "empty name"],
    [`/nix/store/${HASH.slice(1)}e-a`, "32-character"], // 'e' is not Nix base-32
    [`/nix/store/${HASH.slice(0, 31)}-a`, "32-character"],
    [`/nix/store/${HASH}-a/b`, "'/'"],
    [`/nix/store/${HASH}-.hidden`, "starting with '.'"],
    [`/nix/store/${HASH}-a..b`, "'..'"],
    [`/nix/store/${HASH}-..`, "starting with '.'"],
    [`/nix/store/../${HASH}-a`, "'/'"],
    [`/nix/store/${HASH}-a\0b`, "NUL"],
    [`/nix/store/${HASH}-a b`, "characters outside"],
    [`/nix/store/${HASH}-ünï`, "characters outside"],
    [`/nix/store//${HASH}-a`, "'/'"],
    [`/other/store/${HASH}-a`, "not in"],
    [`/nix/store/${HASH}-${"x".repeat(212)}`, "longer than"],
    ["", "not in"],
  ])("refuses %j (%s)", (p, why) => {
    expect(storePathProblem(p)).toContain(why);
  });

  it("uses the configured store dir", () => {
    expect(isStorePath(`/robot/store/${HASH}-a`, "/robot/store")).toBe(true);
    expect(isStorePath(`/nix/store/${HASH}-a`, "/robot/store")).toBe(false);
  });

  it("throws NixFormatError(STORE_PATH) naming the path", () => {
    const bad = `/nix/store/${HASH}-a/../../etc`;
    try {
      validateStorePath(bad);
      expect.unreachable();
    } catch (e) {
      expect(isNixFormatError(e) && e.code).toBe("STORE_PATH");
      expect((e as Error).message).toContain(JSON.stringify(bad));
    }
  });
});
