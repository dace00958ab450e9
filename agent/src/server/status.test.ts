import { status } from "@grpc/grpc-js";
import { NixFormatError, type NixFormatErrorCode } from "@ros-rollback/nix-core";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AgentError, type AgentErrorCode } from "../errors.js";
import { createLogger } from "../log.js";
import { MAX_ENCODED_MESSAGE } from "../text/bounded.js";
import { toStatus } from "./status.js";

const log = pino({ level: "silent" });

describe("toStatus", () => {
  const cases: [AgentErrorCode, status][] = [
    ["INVALID_ARGUMENT", status.INVALID_ARGUMENT],
    ["UNTRUSTED", status.PERMISSION_DENIED],
    ["HASH_MISMATCH", status.DATA_LOSS],
    ["CACHE_BAD_NAR", status.DATA_LOSS],
    ["CACHE_UNAVAILABLE", status.UNAVAILABLE],
    ["FAILED_PRECONDITION", status.FAILED_PRECONDITION],
    ["HELD", status.FAILED_PRECONDITION],
    ["RESOURCE_EXHAUSTED", status.RESOURCE_EXHAUSTED],
    ["NO_SPACE", status.RESOURCE_EXHAUSTED],
    ["NOT_FOUND", status.NOT_FOUND],
    ["EXTERNAL_COMMAND_FAILED", status.INTERNAL],
    ["ABORTED", status.CANCELLED],
    ["TIMEOUT", status.DEADLINE_EXCEEDED],
  ];
  for (const [code, want] of cases) {
    it(`maps ${code} to ${status[want]} and keeps the message`, () => {
      const s = toStatus(new AgentError(code, `message for ${code}`), log, "Test");
      expect(s.code).toBe(want);
      expect(s.details).toBe(`message for ${code}`);
      expect(s.metadata?.get("ros-rollback-error-code")).toEqual([code]);
    });
  }

  const nixCases: [NixFormatErrorCode, AgentErrorCode, status][] = [
    ["STORE_PATH", "INVALID_ARGUMENT", status.INVALID_ARGUMENT],
    ["NAR_HASH", "INVALID_ARGUMENT", status.INVALID_ARGUMENT],
    ["NAR_SIZE", "INVALID_ARGUMENT", status.INVALID_ARGUMENT],
    ["KEY", "INVALID_ARGUMENT", status.INVALID_ARGUMENT],
    ["WIRE", "EXTERNAL_COMMAND_FAILED", status.INTERNAL],
    ["END_OF_STREAM", "EXTERNAL_COMMAND_FAILED", status.INTERNAL],
  ];
  for (const [nixCode, agentCode, want] of nixCases) {
    it(`maps nix-core's ${nixCode} to ${status[want]} (${agentCode} in the trailer) and keeps the message`, () => {
      const s = toStatus(new NixFormatError(nixCode, `bad ${nixCode}`), log, "Test");
      expect(s.code).toBe(want);
      expect(s.details).toBe(`bad ${nixCode}`);
      expect(s.metadata?.get("ros-rollback-error-code")).toEqual([agentCode]);
    });
  }

  it("bounds a message that echoes input, for the client and for the log", () => {
    const lines: string[] = [];
    const captured = createLogger("info", undefined, { write: (l: string) => void lines.push(l) });
    const s = toStatus(new AgentError("NOT_FOUND", `no deployment ${"é".repeat(100_000)}`), captured, "Test");
    expect(s.code).toBe(status.NOT_FOUND);
    expect(encodeURI(s.details ?? "").length).toBeLessThanOrEqual(MAX_ENCODED_MESSAGE);
    expect(s.details).toMatch(/^no deployment é+… \(cut\)$/);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.length).toBeLessThan(MAX_ENCODED_MESSAGE);
  });

  it("hides the message of an unexpected error", () => {
    const s = toStatus(new TypeError("secret internals at /root/x"), log, "Test");
    expect(s.code).toBe(status.INTERNAL);
    expect(s.details).not.toContain("secret");
  });
});
