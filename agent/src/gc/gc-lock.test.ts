// FlockGcLock against a real flock(1) holding the lock exclusively, as a running nix-store --gc does.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessRunner } from "../system/command.js";
import { FlockGcLock } from "./gc-lock.js";

let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Holds `file` exclusively until the returned function is called; resolves once it holds it. */
async function holdExclusively(file: string): Promise<() => Promise<void>> {
  const child = spawn("flock", ["--exclusive", file, "sh", "-c", "echo held; read _"], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return async () => {
    child.stdin.end("\n");
    await exited;
  };
}

describe("waiting out a running GC", () => {
  it("returns at once without a GC, waits while one holds gc.lock, gives up when aborted", async () => {
    dir = await mkdtemp(join(tmpdir(), "gc-lock-"));
    const file = join(dir, "gc.lock");
    const lock = new FlockGcLock(new ProcessRunner(), file, pino({ level: "silent" }));
    await lock.waitForRunningGc(AbortSignal.timeout(10_000));

    const release = await holdExclusively(file);
    await expect(lock.waitForRunningGc(AbortSignal.timeout(300))).rejects.toMatchObject({ code: "ABORTED" });
    let waited = false;
    const waiting = lock.waitForRunningGc(AbortSignal.timeout(30_000)).then(() => (waited = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(waited).toBe(false);
    await release();
    await waiting;
    expect(waited).toBe(true);
  });
});
