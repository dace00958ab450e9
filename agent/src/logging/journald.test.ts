import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  type DetectDeps,
  detectLogTarget,
  fieldName,
  journaldDestination,
  journalEntry,
  loadJournaldAddon,
  priorityOf,
} from "./journald.js";

const deps = (o: Partial<DetectDeps> = {}): DetectDeps => ({
  env: { JOURNAL_STREAM: "8:12345" },
  fdIdentity: (fd) => (fd === 2 ? "8:12345" : "8:999"),
  isSocket: () => true,
  load: () => () => {},
  ...o,
});

describe("choosing journald or stdout", () => {
  it("uses journald when systemd connected stderr to the journal, the socket exists and the addon loads", () => {
    expect(detectLogTarget(deps()).kind).toBe("journald");
  });

  it("falls back to stdout, saying why", () => {
    const why = (o: Partial<DetectDeps>) => {
      const t = detectLogTarget(deps(o));
      return t.kind === "stdout" ? t.why : "journald";
    };
    expect(why({ env: {} })).toMatch(/no JOURNAL_STREAM/);
    // A child that inherited JOURNAL_STREAM but writes to a pipe.
    expect(why({ fdIdentity: () => "0:1" })).toMatch(/not the journal stream/);
    // The addon would drop every entry silently.
    expect(why({ isSocket: () => false })).toMatch(/socket is not a socket|is not a socket/);
    expect(
      why({
        load: () => {
          throw new Error("Cannot find module 'systemd-journald'");
        },
      }),
    ).toMatch(/addon is not usable: Cannot find module/);
  });

  it("loads the addon (built against libsystemd by npm ci)", () => {
    expect(typeof loadJournaldAddon()).toBe("function");
  });
});

describe("pino lines as journal entries", () => {
  it("maps level to PRIORITY, service to SYSLOG_IDENTIFIER and keys to upper-case fields", () => {
    const e = journalEntry(
      JSON.stringify({
        level: 40,
        time: "2026-01-01T00:00:00.000Z",
        service: "ros-rollback-agent",
        deploymentId: "d-1",
        generation: 7,
        check: "unit:talker.service",
        err: { type: "Error", message: "boom", stack: "Error: boom\n    at x" },
        nested: { a: { b: [1, 2] } },
        priority: "mine",
        msg: "check failed",
      }),
    );
    expect(e.priority).toBe(4);
    expect(e.message).toBe("check failed");
    expect(e.fields).toEqual({
      SYSLOG_IDENTIFIER: "ros-rollback-agent",
      DEPLOYMENT_ID: "d-1",
      GENERATION: "7",
      CHECK: "unit:talker.service",
      ERR_TYPE: "Error",
      ERR_MESSAGE: "boom",
      ERR_STACK: "Error: boom\n    at x",
      NESTED_A_B: "[1,2]",
      LOG_PRIORITY: "mine",
    });
  });

  it("spells field names as journald accepts them", () => {
    expect(fieldName("exitCode")).toBe("EXIT_CODE");
    expect(fieldName("storePath")).toBe("STORE_PATH");
    expect(fieldName("a-b.c")).toBe("A_B_C");
    expect(fieldName("1x")).toBe("F_1X");
    expect(fieldName("_x")).toBe("F_X");
    expect(fieldName("message")).toBe("LOG_MESSAGE");
  });

  it("maps pino's levels to syslog priorities", () => {
    expect([10, 20, 30, 40, 50, 60].map(priorityOf)).toEqual([7, 7, 6, 4, 3, 2]);
  });

  it("is a pino destination: one send per line, and a line journald refuses goes to stdout", () => {
    const sent: [number, string, Record<string, string>][] = [];
    const log = pino(
      { base: { service: "svc" } },
      journaldDestination((p, m, f) => sent.push([p, m, { ...f }])),
    );
    log.child({ deploymentId: "d-2" }).error({ generation: 3 }, "rolled back");
    expect(sent).toEqual([
      [3, "rolled back", { SYSLOG_IDENTIFIER: "svc", DEPLOYMENT_ID: "d-2", GENERATION: "3" }],
    ]);
  });
});
