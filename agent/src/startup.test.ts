// Start-up refusals: every case through checkStartup (what main runs first); one of each family
// through the real agent binary: startup-binary.test.ts. The cases: testing/startup-cases.ts.
import { readdirSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { isStartupError } from "./errors.js";
import { checkStartup } from "./startup.js";
import { startupCases } from "./testing/startup-cases.js";

const { setup, cases, close } = startupCases();
afterAll(close);

describe("checkStartup refuses, naming the file, and changes nothing", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const { config, mentions, after } = c.make();
    const e: unknown = await checkStartup(config).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!isStartupError(e)) throw new Error(`expected a StartupError, got ${String(e)}`);
    expect(e.exitCode).toBe(c.code);
    expect(e.message).not.toContain("\n");
    for (const m of mentions) expect(e.message).toMatch(m);
    after?.();
  });

  it("accepts a good config, creating a missing stateDir, with no record", async () => {
    const { config, state } = setup();
    rmSync(state, { recursive: true });
    const { config: c, records } = await checkStartup(config);
    expect(c.stateDir).toBe(state);
    expect(await records.load()).toBeUndefined();
    expect(readdirSync(state)).toEqual([]);
  });
});
