// Start-up refusals through the real agent binary, one of each family: exit code, one line on
// stderr naming the file, no stack trace.
import { afterAll, describe, expect, it } from "vitest";
import { runAgent, startupCases } from "./testing/startup-cases.js";

const { cases, close } = startupCases();
afterAll(close);

describe("the agent binary: one line naming the file, an exit code the units understand", () => {
  it.each(cases.filter((c) => c.spawn).map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const { config, mentions, after } = c.make();
    const r = await runAgent(config);
    expect(r.stderr).toMatch(/^ros-rollback-agent: [^\n]+\n$/);
    expect(r.stderr).not.toMatch(/\bat .*:\d+:\d+/); // no stack trace
    for (const m of mentions) expect(r.stderr).toMatch(m);
    expect(r.code, r.stderr).toBe(c.code);
    after?.();
  });
});
