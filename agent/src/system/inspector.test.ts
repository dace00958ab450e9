import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessRunner } from "./command.js";
import { RobotSystemInspector } from "./inspector.js";

let dir: string;
let holder: ChildProcess | undefined;
afterEach(async () => {
  if (holder !== undefined && holder.exitCode === null && holder.signalCode === null) {
    holder.kill("SIGKILL");
    await once(holder, "exit");
  }
  holder = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function inspector(switchLockFile: string): RobotSystemInspector {
  return new RobotSystemInspector({
    runner: new ProcessRunner(),
    currentSystemLink: join(dir, "current-system"),
    switchLockFile,
    validateStorePath: () => {},
    isValidInStore: async () => true,
  });
}

/** Takes the lock as the lab's switch-to-configuration does: `flock -n 9` on the shell's fd 9, then lives on. */
async function holdLock(file: string): Promise<ChildProcess> {
  const child = spawn(
    "sh",
    ["-c", 'exec 9>"$1"; flock -n 9 || exit 1; echo locked; exec sleep 60', "sh", file],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  holder = child;
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  expect(line.toString()).toBe("locked\n");
  return child;
}

/** Whether someone else could take the lock now (what switch-to-configuration tries). */
function lockFree(file: string): boolean {
  return spawnSync("flock", ["--nonblock", file, "true"]).status === 0;
}

describe("RobotSystemInspector.switchLockHeld (real flock)", () => {
  it("is false without a lock file, and creates none", async () => {
    dir = mkdtempSync(join(tmpdir(), "rr-lock-"));
    const file = join(dir, "switch-to-configuration.lock");
    expect(await inspector(file).switchLockHeld()).toBe(false);
    expect(spawnSync("test", ["-e", file]).status).toBe(1);
  });

  it("is true while a switch holds the lock, false once it let go, and leaves the lock free", async () => {
    dir = mkdtempSync(join(tmpdir(), "rr-lock-"));
    const file = join(dir, "switch-to-configuration.lock");
    writeFileSync(file, "");
    expect(await inspector(file).switchLockHeld()).toBe(false);
    expect(lockFree(file)).toBe(true);

    const child = await holdLock(file);
    expect(await inspector(file).switchLockHeld()).toBe(true);
    expect(lockFree(file)).toBe(false); // the probe did not take it from the switch
    child.kill("SIGTERM");
    await once(child, "exit");

    expect(await inspector(file).switchLockHeld()).toBe(false);
    expect(lockFree(file)).toBe(true);
  });
});

describe("ProcessRunner fds", () => {
  it("passes open files to the command as fd 3, 4, …", async () => {
    dir = mkdtempSync(join(tmpdir(), "rr-fds-"));
    writeFileSync(join(dir, "a"), "first");
    writeFileSync(join(dir, "b"), "second");
    const a = await open(join(dir, "a"), "r");
    const b = await open(join(dir, "b"), "r");
    try {
      const r = await new ProcessRunner().run(["sh", "-c", "cat <&3; echo; cat <&4"], { fds: [a.fd, b.fd] });
      expect(r).toMatchObject({ code: 0, stdout: "first\nsecond" });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
