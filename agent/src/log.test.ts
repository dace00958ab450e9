import { describe, expect, it } from "vitest";
import { AgentError } from "./errors.js";
import { createLogger } from "./log.js";
import { MAX_MESSAGE } from "./text/bounded.js";

function capture() {
  const lines: string[] = [];
  const log = createLogger("debug", undefined, { write: (l: string) => void lines.push(l) });
  return { log, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("createLogger bounds every line", () => {
  const huge = "x".repeat(1_000_000);

  it("the message, string fields and a child's bindings stay within the bound", () => {
    const { log, lines } = capture();
    log.info({ path: huge, n: 1, nested: { kept: "short" } }, `refused ${huge}`);
    log.child({ component: "c" }).warn(huge);
    const [a = {}, b = {}] = lines();
    expect(String(a.msg)).toHaveLength(MAX_MESSAGE + "… (998008 more characters)".length);
    expect(String(a.path)).toHaveLength(MAX_MESSAGE + "… (998000 more characters)".length);
    expect(a).toMatchObject({ n: 1, nested: { kept: "short" } });
    expect(String(b.msg).length).toBeLessThanOrEqual(MAX_MESSAGE + 40);
    expect(b.component).toBe("c");
  });

  it("an error's message and stack are cut, its code kept", () => {
    const { log, lines } = capture();
    log.error({ err: new AgentError("NOT_FOUND", `no deployment ${huge}`) }, "failed");
    log.error(new Error(huge));
    log.warn({ err: new Error(huge) });
    const lines_ = lines();
    const err = (lines_[0]?.err ?? {}) as Record<string, unknown>;
    expect(err.code).toBe("NOT_FOUND");
    expect(String(err.message).length).toBeLessThanOrEqual(MAX_MESSAGE + 40);
    expect(String(err.stack).length).toBeLessThanOrEqual(4_000 + 40);
    expect(String(err.stack)).toContain("log.test.ts"); // the frames survive a huge message
    expect(lines_).toHaveLength(3);
    for (const l of lines_) expect(JSON.stringify(l).length).toBeLessThan(5 * MAX_MESSAGE);
  });
});
