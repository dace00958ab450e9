// Start-up refusals through the real agent binary, one of each family: exit code, one line on
// stderr naming the file, no stack trace.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { startupCases } from "./testing/startup-cases.js";

const MAIN = resolve(fileURLToPath(import.meta.url), "../../dist/main.js");
const { cases, close } = startupCases();
afterAll(close);

function runAgent(config: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [MAIN, "--config", config],
      { timeout: 18_000, env: { ...process.env, NOTIFY_SOCKET: "" } },
      (_err, _stdout, stderr) => done({ code: child.exitCode, stderr }),
    );
  });
}

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
