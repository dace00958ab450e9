import { createLogger, createStorePort } from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The store port loads the receive pipeline on its first push (issue 13). Two pushes race that
// first load here: the first uses of this test file's fresh module graph, on a real (chroot) store.

let fx: NixFixture;
const closures: PathInfo[][] = [];
const signal = () => AbortSignal.timeout(60_000);

beforeAll(async () => {
  fx = await NixFixture.create();
  for (const tag of ["lazy-a", "lazy-b"]) {
    const top = await fx.build(diamondExpr(tag));
    await fx.sign(top);
    closures.push(await computeClosure(top, signal(), { storeUri: fx.sourceStore, env: fx.env }));
  }
});
afterAll(() => fx.cleanup());

async function* requests(infos: PathInfo[]): AsyncIterable<PushPathsRequest> {
  yield* pushRequests(
    infos,
    { compression: Compression.COMPRESSION_ZSTD, nix: { storeUri: fx.sourceStore, env: fx.env } },
    signal(),
  );
}

describe("the store port's first pushes", () => {
  it("both import their closure when they race the receive pipeline's first load", async () => {
    const robot = fx.store("robot");
    // Made before the race: two Nix processes creating one fresh store's directories can collide
    // (gcroots/profiles), a robot's store always exists.
    await fx.nixStore(["--verify"], robot);
    const store = createStorePort({
      storeDir: "/nix/store",
      nixBinDir: undefined,
      storeUri: robot,
      env: fx.env,
      trustedPublicKeys: [fx.publicKey],
      log: createLogger("error", undefined, { write: () => {} }),
      maxConcurrentPushes: 2,
    });
    const [a, b] = closures;
    if (a === undefined || b === undefined) throw new Error("no closures");
    const [ra, rb] = await Promise.all([
      store.receivePush(requests(a), signal()),
      store.receivePush(requests(b), signal()),
    ]);
    expect(ra.imported.length + ra.skipped.length).toBe(a.length);
    expect(rb.imported.length + rb.skipped.length).toBe(b.length);
    const all = [...a, ...b].map((i) => i.storePath);
    expect(await store.queryMissing(all, signal())).toEqual([]);
  });
});
