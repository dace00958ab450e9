import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { constants } from "node:fs";
import { chmod, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("./testing/watchdog-child.ts", import.meta.url));
const POOL = 4;

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

let dir = "";
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill("SIGKILL");
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

describe("the systemd watchdog sees a stuck thread pool (a real child process, real blocking opens)", () => {
  it("withholds WATCHDOG=1 while every pool thread is blocked, and pings again once they return", async () => {
    dir = await mkdtemp(join(tmpdir(), "rr-watchdog-"));
    const notify = join(dir, "systemd-notify");
    await writeFile(notify, `#!/bin/sh\necho "$*" >> ${dir}/pings\n`);
    await chmod(notify, 0o755);
    for (let i = 0; i < POOL; i++) execFileSync("mkfifo", [join(dir, `fifo${i}`)]);
    const pings = async () =>
      (await readFile(join(dir, "pings"), "utf8").catch(() => ""))
        .split("\n")
        .filter((l) => l.includes("WATCHDOG=1")).length;

    const proc = spawn(process.execPath, ["--import", "tsx", CHILD, notify, dir], {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, UV_THREADPOOL_SIZE: String(POOL) },
    });
    child = proc;
    let out = "";
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    await until("two pings from a healthy process", async () => (await pings()) >= 2, 20_000);

    proc.stdin?.write(`block ${POOL}\n`);
    await until("the child to block its pool", () => out.includes("blocking"));
    // Two ticks (500 ms each): a ping already on its way when the pool stalled may still land.
    await sleep(1_200);
    const stalled = await pings();
    await sleep(2_500);
    expect(await pings(), out).toBe(stalled);
    expect(out).toContain("withholding watchdog pings");

    // A writer for each FIFO lets every blocked open return.
    for (let i = 0; i < POOL; i++) {
      const w = await open(join(dir, `fifo${i}`), constants.O_WRONLY | constants.O_NONBLOCK);
      await w.close();
    }
    await until("pings to resume", async () => (await pings()) > stalled);
    expect(out).toContain("thread pool answers again");
  }, 40_000);
});
