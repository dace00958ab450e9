import { describe, expect, it } from "vitest";
import { boundForTrailer, cut, MAX_ENCODED_MESSAGE, quote, quoteList } from "./bounded.js";

describe("bounded text", () => {
  it("cut keeps short text and says how much it cut, never splitting a surrogate pair", () => {
    expect(cut("abc", 3)).toBe("abc");
    expect(cut("abcdef", 3)).toBe("abc… (3 more characters)");
    expect(cut("ab😀cd", 3)).toBe("ab… (4 more characters)");
  });

  it("quote escapes control characters and cuts", () => {
    expect(quote("a\nb\u0000")).toBe('"a\\nb\\u0000"');
    expect(quote("x".repeat(1000), 10)).toBe('"xxxxxxxxxx… (990 more characters)"');
  });

  it("quoteList names the count and the first few", () => {
    expect(quoteList(["a"], "path")).toBe('1 path: "a"');
    expect(quoteList(["a", "b", "c", "d", "e"], "path")).toBe('5 paths: "a", "b", "c" and 2 more');
  });

  it.each([
    ["ASCII", "a".repeat(200_000)],
    ["characters percent-encoded to 9 bytes", "é€".repeat(50_000)],
    ["emoji", "😀".repeat(50_000)],
    ["lone surrogates", "\ud800x".repeat(50_000)],
  ])("boundForTrailer fits a trailer: %s", (_what, text) => {
    const out = boundForTrailer(`refused: ${text}`);
    expect(out.startsWith("refused: ")).toBe(true);
    expect(encodeURI(out).length).toBeLessThanOrEqual(MAX_ENCODED_MESSAGE);
    expect(out.length).toBeGreaterThan(300);
  });

  it("boundForTrailer leaves a short message alone", () => {
    expect(boundForTrailer('path "/nix/store/x" refused: é')).toBe('path "/nix/store/x" refused: é');
  });
});
