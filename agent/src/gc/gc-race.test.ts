// A REAL `nix-store --gc`, started by the agent's Collector, racing a deploy's query and push of
// paths that are dead before the query, in throwaway chroot stores (never the host's).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorePort } from "../store/store-adapter.js";
import { ProcessRunner } from "../system/command.js";
import { Collector } from "./collector.js";
import { RootFence } from "./fence.js";
import { FlockGcLock } from "./gc-lock.js";
import { PathRoots, rootingStore } from "./roots.js";
import { parseGcSummary, type StoreGc, type StoreGcResult } from "./store-gc.js";

const run = promisify(execFile);
let fx: NixFixture;
beforeAll(async () => {
  fx = await NixFixture.create();
});
afterAll(() => fx.cleanup());

/** Nix's GC of a chroot store as a plain child process (no systemd here); stop() waits until it exited. */
class ProcessStoreGc implements StoreGc {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  started: () => void = () => undefined;

  constructor(private readonly store: string) {}

  collect(): Promise<StoreGcResult> {
    const child = spawn("nix-store", ["--store", this.store, "--gc"], { env: fx.env });
    this.child = child;
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const result = new Promise<StoreGcResult>((resolve, reject) => {
      child.on("close", (code) =>
        code === 0 ? resolve(parseGcSummary(out)) : reject(new Error(`nix-store --gc exited ${code}`)),
      );
    });
    this.exited = result.then(
      () => undefined,
      () => undefined,
    );
    this.started();
    return result;
  }

  async stop(): Promise<void> {
    this.child?.kill("SIGTERM");
    await this.exited;
  }
}

async function invalidAmong(paths: readonly string[], store: string): Promise<string[]> {
  const { stdout } = await run(
    "nix-store",
    ["--store", store, "--check-validity", "--print-invalid", ...paths],
    { env: fx.env, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout.split("\n").filter((l) => l !== "");
}

/** A system-like closure of `n` small paths under one top, unrooted in `store` and in the source store. */
async function deadClosure(tag: string, n: number, store: string): Promise<string[]> {
  const expr = `builtins.toFile "top-${tag}" (builtins.concatStringsSep " " (builtins.genList (i: builtins.toFile "dep-${tag}-\${toString i}" "\${toString i}") ${n}))`;
  const top = await fx.build(expr);
  expect(await fx.build(expr, store)).toBe(top);
  // Dependencies first, as a push sends them.
  return (await fx.nixStore(["--query", "--requisites", top])).split("\n").filter((l) => l !== "");
}

describe("a collection racing a deploy's query and push", () => {
  it("never loses a path the query said is present (20 rounds)", async () => {
    const store = fx.store("race");
    const storeGc = new ProcessStoreGc(store);
    const fence = new RootFence();
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
      fence,
      new FlockGcLock(new ProcessRunner(), join(store, "nix/var/nix/gc.lock"), pino({ level: "silent" })),
    );
    const collector = new Collector({
      policy: { keepGenerations: 5 },
      profile: { delete: async () => undefined },
      facts: async () => ({
        generations: [],
        current: undefined,
        bootedSystem: undefined,
        runningSystem: undefined,
        previous: undefined,
        held: new Set(),
        snapshotReferenced: new Set(),
        outcomes: new Map(),
      }),
      storeGc,
      fence,
      gate: { runYielding: (_label, _stop, work) => work() },
      timeoutSeconds: 60,
      maxFreedBytes: undefined,
      now: () => Date.now(),
      log: pino({ level: "silent" }),
    });
    const lost: string[] = [];
    for (let round = 0; round < 20; round++) {
      const closure = await deadClosure(`r${round}`, 60, store);
      const gcStarted = new Promise<void>((r) => (storeGc.started = r));
      const collecting = collector.collect(false);
      await gcStarted;
      // Anywhere in the collection: before its scan of the roots, amid its deletions, after.
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      const missing = new Set(await port.queryMissing(closure, AbortSignal.timeout(60_000)));
      await fx
        .importInto(
          closure.filter((p) => missing.has(p)),
          store,
        )
        .catch((e: unknown) => lost.push(`round ${round}: push failed: ${String(e).slice(0, 200)}`));
      await collecting;
      const gone = await invalidAmong(closure, store);
      if (gone.length > 0) lost.push(`round ${round}: ${gone.length} path(s) deleted after the query`);
    }
    expect(lost).toEqual([]);
  }, 300_000);
});
