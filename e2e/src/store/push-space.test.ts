// The controller's PushOptions total against the agent's space check, on a real 64 MiB tmpfs
// holding a chroot store (never the host's): a closure that does not fit is refused before a byte.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ensureSpace,
  filesystemSpace,
  NixCliStore,
  type PushObserver,
  receivePush,
} from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
let fx: NixFixture;
let robot: string;
beforeAll(async () => {
  fx = await NixFixture.create();
  robot = fx.store("small-robot");
  await mkdir(robot, { recursive: true });
  await run("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", robot]);
  await fx.nixStore(["--init"], robot); // a robot's /nix/store exists before its first push
}, 60_000);
afterAll(async () => {
  await run("umount", ["-l", robot]).catch(() => undefined);
  await fx.cleanup();
});

describe("controller pushRequests → agent space check", () => {
  it("a closure larger than the robot's free space is refused with the numbers; 0 NAR bytes reach the store", async () => {
    const file = join(fx.root, "big-file");
    await writeFile(file, randomBytes(60 * 1048576));
    const path = await fx.add(file);
    await fx.sign(path);
    const signal = AbortSignal.timeout(120_000);
    const closure = await computeClosure(path, signal, { storeUri: fx.sourceStore, env: fx.env });
    let narBytes = 0;
    const observer: PushObserver = {
      narBytes: (n) => {
        narBytes += n;
      },
    };
    const storeDir = join(robot, "nix/store");
    const err = await receivePush(
      pushRequests(
        closure,
        { compression: Compression.COMPRESSION_NONE, nix: { storeUri: fx.sourceStore, env: fx.env } },
        signal,
      ),
      {
        store: new NixCliStore({ storeUri: robot, env: fx.env }),
        trustedKeys: parseTrustedKeys([fx.publicKey]),
        observer,
        ensureSpace: (needed, what) =>
          ensureSpace(
            { storeDir, reserve: { percent: 5 }, space: filesystemSpace, collect: undefined },
            needed,
            what,
          ),
      },
      signal,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "NO_SPACE" });
    expect((err as Error).message).toMatch(
      new RegExp(
        `^the push needs 60(\\.[0-9])? MiB, [0-9.]+ MiB free on ${storeDir} after collecting 0 bytes, reserve 3\\.2 MiB$`,
      ),
    );
    expect(narBytes).toBe(0);
    expect(await fx.isValid(path, robot)).toBe(false);
  });
});
