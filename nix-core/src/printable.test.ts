import { describe, expect, it } from "vitest";
import { hasUnprintable, printable, terminalText } from "./printable.js";

describe("printable", () => {
  it("escapes C0, DEL, C1, lone surrogates and bidi overrides; leaves text and emoji alone", () => {
    expect(printable("a\u001b]0;owned\u0007b\u007f\u009b\ud800\u202ec")).toBe(
      "a\\u001b]0;owned\\u0007b\\u007f\\u009b\\ud800\\u202ec",
    );
    expect(printable("mission 3 — 😀 é")).toBe("mission 3 — 😀 é");
  });

  it("hasUnprintable answers the same on every call (a global regex keeps state)", () => {
    expect(hasUnprintable("x\u001b")).toBe(true);
    expect(hasUnprintable("x\u001b")).toBe(true);
    expect(hasUnprintable("fine")).toBe(false);
  });
});

describe("terminalText", () => {
  it("keeps line breaks and tabs, escapes the rest", () => {
    expect(terminalText("a\tb\nc\r\u001b[2J")).toBe("a\tb\nc\\u000d\\u001b[2J");
  });
});
