import { join } from "node:path";
import { childProcesses, NixFixture } from "@ros-rollback/nix-core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NixCliStore } from "./cli-store.js";

let fx: NixFixture;
const signal = () => AbortSignal.timeout(60_000);
const file = (name: string) => `builtins.toFile "${name}" "${name}"`;
const nixStores = async () => (await childProcesses()).filter((l) => l.endsWith("nix-store"));

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  fx = await NixFixture.create();
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

describe("NixCliStore keepQueryProcessMs", () => {
  it("answers later queries from the same nix-store, reading the store anew each time", async () => {
    const storeUri = fx.store("robot-fresh");
    const a = await fx.build(file("a"), storeUri);
    const b = await fx.build(file("b")); // in the source store only, for now
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 60_000 });
    try {
      expect([...(await store.queryValidPaths([a, b], signal()))]).toEqual([a]);
      const first = await nixStores();
      expect(first).toHaveLength(1);
      await fx.build(file("b"), storeUri);
      expect([...(await store.queryValidPaths([a, b], signal()))].sort()).toEqual([a, b].sort());
      expect(await nixStores()).toEqual(first);
    } finally {
      await store.close();
    }
    expect(await nixStores()).toEqual([]);
  }, 60_000);

  it("gives each of many concurrent queries its own answer", async () => {
    const storeUri = fx.store("robot-race");
    const valid = await Promise.all(["c0", "c1", "c2"].map((n) => fx.build(file(n), storeUri)));
    const absent = await Promise.all(["d0", "d1", "d2"].map((n) => fx.build(file(n))));
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 60_000 });
    try {
      const asks = valid.map((v, i) => [v, absent[i] ?? ""]);
      const answers = await Promise.all(
        [...asks, ...asks].map((paths) => store.queryValidPaths(paths, signal())),
      );
      expect(answers.map((s) => [...s])).toEqual([...valid, ...valid].map((v) => [v]));
    } finally {
      await store.close();
    }
  }, 60_000);

  it("ends the process once idle, and starts another for the next query", async () => {
    const storeUri = fx.store("robot-idle");
    const a = await fx.build(file("e"), storeUri);
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 200 });
    try {
      await store.queryValidPaths([a], signal());
      await until("the idle nix-store exits", async () => (await nixStores()).length === 0);
      expect([...(await store.queryValidPaths([a], signal()))]).toEqual([a]);
    } finally {
      await store.close();
    }
    expect(await nixStores()).toEqual([]);
  }, 60_000);

  it("answers from a new process when the kept one died while idle", async () => {
    const storeUri = fx.store("robot-killed");
    const a = await fx.build(file("g"), storeUri);
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 60_000 });
    try {
      await store.queryValidPaths([a], signal());
      const [kept] = await nixStores();
      process.kill(Number(kept?.split(" ")[0]), "SIGKILL");
      expect([...(await store.queryValidPaths([a], signal()))]).toEqual([a]);
      const now = await nixStores();
      expect(now).toHaveLength(1);
      expect(now).not.toEqual([kept]);
    } finally {
      await store.close();
    }
  }, 60_000);

  it("drops the process when a query is aborted, and answers the next query with a new one", async () => {
    const storeUri = fx.store("robot-abort");
    const a = await fx.build(file("f"), storeUri);
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 60_000 });
    try {
      await store.queryValidPaths([a], signal());
      const [before] = await nixStores();
      // Long enough a question (≈ 2 MB) that the abort comes while it is being asked.
      const many = Array.from({ length: 30_000 }, (_, i) => `/nix/store/${"0".repeat(32)}-absent-${i}`);
      const abort = new AbortController();
      const asked = store.queryValidPaths([a, ...many], abort.signal);
      setTimeout(() => abort.abort(), 5);
      await expect(asked).rejects.toMatchObject({ code: "ABORTED" });
      expect([...(await store.queryValidPaths([a], signal()))]).toEqual([a]);
      const after = await nixStores();
      expect(after).toHaveLength(1);
      expect(after).not.toEqual([before]);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe("NixCliStore prewarmQuery", () => {
  it("starts the process before the query, which then answers from it", async () => {
    const storeUri = fx.store("robot-prewarm");
    const a = await fx.build(file("h"), storeUri);
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 60_000 });
    try {
      store.prewarmQuery();
      await until("the prewarmed nix-store runs", async () => (await nixStores()).length === 1);
      const warm = await nixStores();
      expect([...(await store.queryValidPaths([a], signal()))]).toEqual([a]);
      expect(await nixStores()).toEqual(warm);
    } finally {
      await store.close();
    }
    expect(await nixStores()).toEqual([]);
  }, 60_000);

  it("starts one process for prewarms racing concurrent queries, each query getting its answer", async () => {
    const storeUri = fx.store("robot-prewarm-race");
    const valid = await Promise.all(["i0", "i1", "i2"].map((n) => fx.build(file(n), storeUri)));
    const absent = await Promise.all(["j0", "j1", "j2"].map((n) => fx.build(file(n))));
    const store = new NixCliStore({ storeUri, env: fx.env, keepQueryProcessMs: 60_000 });
    try {
      const answers = Promise.all(
        valid.map((v, i) => {
          store.prewarmQuery();
          return store.queryValidPaths([v, absent[i] ?? ""], signal());
        }),
      );
      store.prewarmQuery();
      expect((await answers).map((s) => [...s])).toEqual(valid.map((v) => [v]));
      store.prewarmQuery();
      expect(await nixStores()).toHaveLength(1);
    } finally {
      await store.close();
    }
    expect(await nixStores()).toEqual([]);
  }, 60_000);

  it("ends a prewarmed process that no query used once idle", async () => {
    const store = new NixCliStore({
      storeUri: fx.store("robot-prewarm-idle"),
      env: fx.env,
      keepQueryProcessMs: 200,
    });
    try {
      store.prewarmQuery();
      await until("the prewarmed nix-store runs", async () => (await nixStores()).length === 1);
      await until("the idle nix-store exits", async () => (await nixStores()).length === 0);
    } finally {
      await store.close();
    }
  }, 60_000);

  it("leaves a nix-store that cannot start to the query, which reports it", async () => {
    const store = new NixCliStore({
      storeUri: fx.store("robot-prewarm-broken"),
      env: fx.env,
      nixBinDir: join(fx.root, "no-such-bin"),
      keepQueryProcessMs: 60_000,
    });
    try {
      store.prewarmQuery();
      const a = `/nix/store/${"1".repeat(32)}-a`;
      await expect(store.queryValidPaths([a], signal())).rejects.toMatchObject({
        code: "EXTERNAL_COMMAND_FAILED",
      });
    } finally {
      await store.close();
    }
  }, 60_000);

  it("starts nothing once closed", async () => {
    const store = new NixCliStore({
      storeUri: fx.store("robot-prewarm-closed"),
      env: fx.env,
      keepQueryProcessMs: 60_000,
    });
    store.prewarmQuery();
    await store.close();
    store.prewarmQuery();
    expect(await nixStores()).toEqual([]);
  }, 60_000);
});
