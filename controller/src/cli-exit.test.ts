// The `ros-rollback` process exits once its output is written, even while a handle (a grpc-js
// channel's timer, a socket) would keep Node's event loop alive (core/exit.ts; issue 13). Run
// on the shipped bundle, with a preload that keeps a timer referenced for a minute.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BundledRun, buildBundle, runBundled } from "./testing/bundled-cli.js";

const KEEP_ALIVE = "data:text/javascript,setInterval(() => {}, 60000)";

let dir: string;

beforeAll(() => {
  dir = buildBundle("cli-exit-");
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the bundled CLI; a process still running after 10 s is killed (signal SIGKILL). */
function cli(args: readonly string[], nodeArgs: readonly string[] = []): Promise<BundledRun> {
  return runBundled(dir, args, {
    nodeArgs,
    killAfterMs: 10_000,
    // Its code cache (launch/code-cache.ts) written in the test's directory, not the user's.
    env: {
      ...process.env,
      ROS_ROLLBACK_INVENTORY: "",
      ROS_ROLLBACK_TARGET: "",
      XDG_CACHE_HOME: join(dir, "xdg"),
    },
  });
}

describe("the ros-rollback process", () => {
  it("exits with its whole output while a timer would keep Node running", async () => {
    const plain = await cli(["deploy", "--help"]);
    expect(plain).toMatchObject({ code: 0, signal: null });
    expect(plain.stdout).toContain("Usage: ros-rollback deploy");
    const kept = await cli(["deploy", "--help"], ["--import", KEEP_ALIVE]);
    expect(kept).toMatchObject({ code: 0, signal: null, stdout: plain.stdout });
  });

  it("keeps the command's exit code and its error line", async () => {
    const kept = await cli(["deploy"], ["--import", KEEP_ALIVE]);
    expect(kept).toMatchObject({ code: 1, signal: null, stdout: "" });
    expect(kept.stderr).toContain("error: missing <store-path>");
  });
});
