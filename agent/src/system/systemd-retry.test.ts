// askSystemd over real processes and real timers: what counts as a dropped call, and what does not.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcessRunner } from "./command.js";
import { askSystemd, systemdRetry } from "./systemd-retry.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rr-retry-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const runner = new ProcessRunner();
/** Counts its runs in `calls`; fails as a dropped systemd call does until `fails` runs are done. */
const flaky = (fails: number) => [
  "sh",
  "-c",
  `echo run >> "$0"; [ $(wc -l < "$0") -gt ${fails} ] && echo answered && exit 0
   echo 'Failed to get properties: Connection reset by peer' >&2; exit 1`,
  join(dir, "calls"),
];
const calls = () => readFileSync(join(dir, "calls"), "utf8").split("\n").filter(Boolean).length;

describe("askSystemd", () => {
  it("asks again after a failed call, and returns the answer", async () => {
    const warnings: string[] = [];
    const retry = systemdRetry((m) => warnings.push(m), [5, 10]);
    const out = await askSystemd(runner, flaky(2), { timeoutMs: 10_000 }, retry);
    expect(out).toBe("answered\n");
    expect(calls()).toBe(3);
    expect(warnings.map((w) => w.replace(/^.*exited 1: /s, ""))).toEqual([
      "Failed to get properties: Connection reset by peer; asking systemd again in 5 ms",
      "Failed to get properties: Connection reset by peer; asking systemd again in 10 ms",
    ]);
  });

  it("throws the last failure once the waits are used up", async () => {
    const retry = systemdRetry(() => {}, [5]);
    await expect(askSystemd(runner, flaky(9), { timeoutMs: 10_000 }, retry)).rejects.toMatchObject({
      code: "EXTERNAL_COMMAND_FAILED",
      message: expect.stringMatching(/exited 1: Failed to get properties: Connection reset by peer$/),
    });
    expect(calls()).toBe(2);
  });

  it("does not ask again after a call that timed out", async () => {
    const retry = systemdRetry(() => {}, [5]);
    const slow = ["sh", "-c", 'echo run >> "$0"; exec sleep 30', join(dir, "calls")];
    await expect(askSystemd(runner, slow, { timeoutMs: 300 }, retry)).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    expect(calls()).toBe(1);
  });

  it("stops waiting, and does not ask again, when the call's signal aborts", async () => {
    const abort = new AbortController();
    const retry = systemdRetry(() => abort.abort(), [60_000]);
    await expect(askSystemd(runner, flaky(1), { signal: abort.signal }, retry)).rejects.toMatchObject({
      code: "ABORTED",
    });
    expect(calls()).toBe(1);
  });
});
