// The space check before a push and a substitution, on a REAL small filesystem: a 64 MiB tmpfs holds a chroot store
// (never the host's); the collection is Nix's real GC of that store. Needs root (mount).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import type { PathInfo, PushPathsRequest } from "@ros-rollback/proto";
import { Compression } from "@ros-rollback/proto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorePort } from "../store/store-adapter.js";
import { filesystemSpace } from "./collector.js";
import { ensureSpace, formatBytes } from "./space-check.js";

const run = promisify(execFile);
const MiB = 1048576;
let fx: NixFixture;
let work: string;
beforeAll(async () => {
  fx = await NixFixture.create();
  work = await mkdtemp(join(tmpdir(), "space-check-"));
});
afterAll(async () => {
  await fx.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** A fresh chroot store on its own 64 MiB tmpfs; unmounted after `body`. */
async function withSmallStore(name: string, body: (store: string) => Promise<void>): Promise<void> {
  const store = join(work, name);
  await mkdir(store);
  await run("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", store]);
  try {
    await fx.nixStore(["--init"], store).catch(() => fx.nix(["store", "ping"], store));
    await body(store);
  } finally {
    await run("umount", ["-l", store]);
  }
}

/** A signed path in the source store holding `mib` MiB of random bytes. */
async function bigPath(name: string, mib: number): Promise<{ info: PathInfo; nar: Buffer }> {
  const file = join(work, name);
  await writeFile(file, randomBytes(mib * MiB));
  const path = await fx.add(file);
  await fx.sign(path);
  const [e] = await fx.pathInfo([path]);
  if (e === undefined) throw new Error("no path info");
  const info: PathInfo = {
    storePath: path,
    narHash: String(e.narHash),
    narSize: Number(e.narSize),
    references: (e.references as string[] | undefined) ?? [],
    deriver: "",
    signatures: (e.signatures as string[] | undefined) ?? [],
    ca: typeof e.ca === "string" ? e.ca : "",
  };
  return { info, nar: await fx.dump(path) };
}

async function* pushOf(p: { info: PathInfo; nar: Buffer }): AsyncGenerator<PushPathsRequest> {
  const compression = Compression.COMPRESSION_NONE;
  yield { item: { $case: "options", value: { compression, totalNarSize: p.info.narSize } } };
  yield { item: { $case: "path", value: p.info } };
  for (let off = 0; off < p.nar.length; off += MiB) {
    yield { item: { $case: "chunk", value: { data: p.nar.subarray(off, off + MiB) } } };
  }
}

function portFor(store: string, collected: string[], substituters: string[] = []) {
  const storeDir = join(store, "nix/store");
  return createStorePort({
    storeDir: "/nix/store",
    substituters,
    nixBinDir: undefined,
    storeUri: store,
    env: fx.env,
    trustedPublicKeys: [fx.publicKey],
    log: pino({ level: "silent" }),
    ensureSpace: (needed, what) =>
      ensureSpace(
        {
          storeDir,
          reserve: { bytes: 8 * MiB },
          space: filesystemSpace,
          // Nix's real GC of the chroot store: everything unrooted is dead.
          collect: async () => {
            collected.push(store);
            const before = (await filesystemSpace(storeDir))?.free ?? 0;
            await fx.nixStore(["--gc"], store);
            return ((await filesystemSpace(storeDir))?.free ?? 0) - before;
          },
        },
        needed,
        what,
      ),
  });
}

const signal = () => AbortSignal.timeout(120_000);

describe("the space check before a push", () => {
  it("refuses a push larger than the free space, with the numbers, before any path is registered", async () => {
    const big = await bigPath("big", 60);
    await withSmallStore("refused", async (store) => {
      const collected: string[] = [];
      const push = portFor(store, collected).receivePush(pushOf(big), signal(), undefined, undefined);
      const err = await push.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: "NO_SPACE" });
      expect((err as Error).message).toMatch(
        new RegExp(
          `^the push needs ${formatBytes(big.info.narSize)}, [0-9.]+ MiB free on ${store}/nix/store ` +
            "after collecting [0-9.]+ (bytes|KiB|MiB), reserve 8 MiB$",
        ),
      );
      expect(collected).toEqual([store]);
      expect(await fx.isValid(big.info.storePath, store)).toBe(false);
    });
  });

  it("collects first when the push fits only after the collection, then imports it", async () => {
    const garbage = await bigPath("garbage", 30);
    const wanted = await bigPath("wanted", 30);
    await withSmallStore("collects", async (store) => {
      const collected: string[] = [];
      const port = portFor(store, collected);
      // Unrooted once imported: dead to the GC. 30 MiB used leaves < 30 MiB + 8 MiB reserve.
      await port.receivePush(
        pushOf({ ...garbage, info: { ...garbage.info } }),
        signal(),
        undefined,
        undefined,
      );
      expect(collected).toEqual([]);
      const res = await port.receivePush(pushOf(wanted), signal(), undefined, undefined);
      expect(res.imported).toEqual([wanted.info.storePath]);
      expect(collected).toEqual([store]);
      expect(await fx.isValid(garbage.info.storePath, store)).toBe(false);
      expect(await fx.isValid(wanted.info.storePath, store)).toBe(true);
    });
  });
});

/** A file:// binary cache holding `p` uncompressed. */
async function cacheOf(name: string, p: { info: PathInfo }): Promise<string> {
  const url = `file://${join(work, name)}?compression=none`;
  await fx.nix(["copy", "--to", url, p.info.storePath]);
  return `file://${join(work, name)}`;
}

describe("the space check before a substitution", () => {
  it("refuses one larger than the free space, with the numbers, before Nix fetches a path", async () => {
    const big = await bigPath("sub-big", 60);
    const cache = await cacheOf("cache-big", big);
    await withSmallStore("sub-refused", async (store) => {
      const collected: string[] = [];
      const port = portFor(store, collected, [cache]);
      const err = await port
        .substitute([big.info.storePath], signal(), () => undefined, undefined)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toMatchObject({ code: "NO_SPACE" });
      expect((err as Error).message).toMatch(
        new RegExp(
          `^the substitution needs ${formatBytes(big.info.narSize)}, [0-9.]+ MiB free on ${store}/nix/store `,
        ),
      );
      expect(collected).toEqual([store]);
      expect(await fx.isValid(big.info.storePath, store)).toBe(false);
    });
  });

  it("collects first when it fits only after the collection, then substitutes", async () => {
    const garbage = await bigPath("sub-garbage", 30);
    const wanted = await bigPath("sub-wanted", 30);
    const cache = await cacheOf("cache-wanted", wanted);
    await withSmallStore("sub-collects", async (store) => {
      const collected: string[] = [];
      const port = portFor(store, collected, [cache]);
      await port.receivePush(pushOf(garbage), signal(), undefined, undefined);
      await port.substitute([wanted.info.storePath], signal(), () => undefined, undefined);
      expect(collected).toEqual([store]);
      expect(await fx.isValid(garbage.info.storePath, store)).toBe(false);
      expect(await fx.isValid(wanted.info.storePath, store)).toBe(true);
    });
  });
});
