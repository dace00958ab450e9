// A REAL `nix-store --gc` started by hand (not by the agent, so no fence stops it) that is already
// running when a deploy queries its closure, in throwaway chroot stores (never the host's).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorePort } from "../store/store-adapter.js";
import { ProcessRunner } from "../system/command.js";
import { RootFence } from "./fence.js";
import { FlockGcLock } from "./gc-lock.js";
import { PathRoots, rootingStore } from "./roots.js";

const run = promisify(execFile);
const ROUNDS = 3;
/** Dead paths beside the closure: they keep the GC busy for about a second. */
const FILLER = 800;

let fx: NixFixture;
beforeAll(async () => {
  fx = await NixFixture.create();
});
afterAll(() => fx.cleanup());

/** Whether someone (a running GC) holds `lockFile` exclusively. */
async function held(lockFile: string): Promise<boolean> {
  const r = await run("flock", ["--shared", "-n", "-E", "75", lockFile, "true"]).then(
    () => 0,
    (e: { code?: number }) => e.code,
  );
  return r === 75;
}

/** Starts `nix-store --gc` on `store`; resolves once it holds the GC lock (its roots are read). */
async function handGc(store: string): Promise<{ ended: Promise<void>; child: ChildProcess }> {
  const child = spawn("nix-store", ["--store", store, "--gc"], { env: fx.env, stdio: "ignore" });
  const ended = new Promise<void>((resolve) => child.on("close", () => resolve()));
  let over = false;
  void ended.then(() => (over = true));
  const lockFile = join(store, "nix/var/nix/gc.lock");
  while (!over && !(await held(lockFile))) await new Promise((r) => setTimeout(r, 5));
  return { ended, child };
}

async function deadClosure(tag: string, store: string): Promise<string[]> {
  const expr = `builtins.toFile "top-${tag}" (builtins.concatStringsSep " " (builtins.genList (i: builtins.toFile "dep-${tag}-\${toString i}" "\${toString i}") 40))`;
  const top = await fx.build(expr);
  expect(await fx.build(expr, store)).toBe(top);
  return (await fx.nixStore(["--query", "--requisites", top])).split("\n").filter((l) => l !== "");
}

describe("a nix-store --gc started by hand, running when a deploy asks about its closure", () => {
  it(`never deletes a path the query said is present (${ROUNDS} rounds)`, async () => {
    const store = fx.store("hand");
    const port = rootingStore(
      createStorePort({
        storeDir: "/nix/store",
        nixBinDir: undefined,
        storeUri: store,
        env: fx.env,
        trustedPublicKeys: [fx.publicKey],
        log: pino({ level: "silent" }),
      }),
      new PathRoots(join(store, "nix/var/nix/gcroots/ros-rollback"), () => Date.now()),
      new RootFence(),
      new FlockGcLock(new ProcessRunner(), join(store, "nix/var/nix/gc.lock"), pino({ level: "silent" })),
    );
    const lost: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const closure = await deadClosure(`r${round}`, store);
      await fx.build(
        `builtins.concatStringsSep " " (builtins.genList (i: builtins.toFile "filler-${round}-\${toString i}" "\${toString i}") ${FILLER})`,
        store,
      );
      const gc = await handGc(store);
      const missing = new Set(await port.queryMissing(closure, AbortSignal.timeout(60_000)));
      await fx
        .importInto(
          closure.filter((p) => missing.has(p)),
          store,
        )
        .catch((e: unknown) => lost.push(`round ${round}: push failed: ${String(e).slice(0, 200)}`));
      await gc.ended;
      const { stdout } = await run(
        "nix-store",
        ["--store", store, "--check-validity", "--print-invalid", ...closure],
        { env: fx.env, maxBuffer: 16 * 1024 * 1024 },
      );
      const gone = stdout.split("\n").filter((l) => l !== "");
      if (gone.length > 0) lost.push(`round ${round}: ${gone.length} of ${closure.length} path(s) deleted`);
    }
    expect(lost).toEqual([]);
  }, 180_000);
});
