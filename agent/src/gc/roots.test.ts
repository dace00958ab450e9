// Roots against Nix's REAL garbage collector, in throwaway chroot stores (never the host's).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorePort } from "../store/store-adapter.js";
import { ProcessRunner } from "../system/command.js";
import { RootFence } from "./fence.js";
import { FlockGcLock } from "./gc-lock.js";
import { PathRoots, rootingStore } from "./roots.js";

let fx: NixFixture;
beforeAll(async () => {
  fx = await NixFixture.create();
});
afterAll(() => fx.cleanup());

const rootsOf = (store: string) => join(store, "nix/var/nix/gcroots/ros-rollback");
const gcLockOf = (store: string) =>
  new FlockGcLock(new ProcessRunner(), join(store, "nix/var/nix/gc.lock"), pino({ level: "silent" }));
const signal = () => AbortSignal.timeout(60_000);

function portFor(store: string) {
  return createStorePort({
    storeDir: "/nix/store",
    nixBinDir: undefined,
    storeUri: store,
    env: fx.env,
    trustedPublicKeys: [fx.publicKey],
    log: pino({ level: "silent" }),
  });
}

/** `nix-store --export` from the source store piped into `--import` of `store`: what a push registers. */
function copy(path: string, store: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = spawn("nix-store", ["--store", fx.sourceStore, "--export", path], { env: fx.env });
    const imp = spawn("nix-store", ["--store", store, "--import"], {
      env: fx.env,
      stdio: ["pipe", "ignore", "pipe"],
    });
    out.stdout.pipe(imp.stdin);
    let err = "";
    imp.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    imp.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`import exited ${code}: ${err}`))));
  });
}

// Real nix-store GCs and imports: slow on a loaded machine, so more than the unit default of 20 s.
describe("roots of queried paths", { timeout: 90_000 }, () => {
  it("keep what a deployment asked about through a real nix-store --gc, until pruned", async () => {
    const store = fx.store("pruned");
    const asked = await fx.build(`builtins.toFile "asked" "a"`, store);
    const other = await fx.build(`builtins.toFile "other" "o"`, store);
    const roots = new PathRoots(rootsOf(store), () => Date.now());
    const port = rootingStore(portFor(store), roots, new RootFence(), gcLockOf(store));
    expect(await port.queryMissing([asked], signal())).toEqual([]);
    await fx.nixStore(["--gc"], store);
    expect(await fx.validAmong([asked, other], store)).toEqual([asked]);

    expect(await roots.prune(Date.now() - 60_000)).toBe(0);
    expect(await roots.prune(Date.now() + 1)).toBe(1);
    await fx.nixStore(["--gc"], store);
    expect(await fx.validAmong([asked], store)).toEqual([]);
  });

  it("makes no link for a malformed path: the store's own refusal, nothing changed", async () => {
    const store = fx.store("bad");
    const roots = new PathRoots(rootsOf(store), () => Date.now());
    const port = rootingStore(portFor(store), roots, new RootFence(), gcLockOf(store));
    await expect(port.queryMissing(["/nix/store/../../etc/passwd"], signal())).rejects.toThrow(
      /invalid store path/,
    );
    expect(await roots.prune(Date.now() + 1)).toBe(0);
  });

  it("a GC between the query, the import and the switch never deletes what the deployment needs", async () => {
    const store = fx.store("race");
    const port = rootingStore(
      portFor(store),
      new PathRoots(rootsOf(store), () => Date.now()),
      new RootFence(),
      gcLockOf(store),
    );
    for (let i = 0; i < 5; i++) {
      const p = await fx.build(`builtins.toFile "round-${i}" "${i}"`);
      expect(await port.queryMissing([p], signal())).toEqual([p]);
      await fx.nixStore(["--gc"], store);
      await copy(p, store);
      // The path is valid now, and no importing process holds it: only the root does.
      await fx.nixStore(["--gc"], store);
      expect(await fx.validAmong([p], store)).toEqual([p]);
    }
  });
});
