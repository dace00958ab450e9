import type { PushObserver } from "@ros-rollback/agent/testing";
import { NixCliStore, queryMissingPaths, receivePush } from "@ros-rollback/agent/testing";
// The controller's half of the wire: this test is the contract between the two.
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let fx: NixFixture;
let closure: PathInfo[];
let robotCount = 0;

const signal = () => AbortSignal.timeout(60_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });
const uris = new Map<NixCliStore, string>();
const newRobot = () => {
  const uri = fx.store(`robot-${++robotCount}`);
  const store = new NixCliStore({ storeUri: uri, env: fx.env });
  uris.set(store, uri);
  return store;
};
const storeOf = (s: NixCliStore) => uris.get(s) ?? "";
const deps = (store: NixCliStore, observer?: PushObserver) => ({
  store,
  trustedKeys: parseTrustedKeys([fx.publicKey]),
  observer,
});

beforeAll(async () => {
  fx = await NixFixture.create();
  const top = await fx.build(diamondExpr("e2e"));
  await fx.sign(top);
  closure = await computeClosure(top, signal(), nix());
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

describe("controller pushRequests → agent receivePush", () => {
  it.each([
    ["none", Compression.COMPRESSION_NONE],
    ["gzip", Compression.COMPRESSION_GZIP],
    ["zstd", Compression.COMPRESSION_ZSTD],
  ])("imports a signed closure (%s) with signatures and contents intact", async (_name, compression) => {
    const robot = newRobot();
    const events: string[] = [];
    let narBytes = 0;
    const observer: PushObserver = {
      narBytes: (n) => {
        narBytes += n;
      },
      pathImported: (p, size) => events.push(`imported ${p} ${size}`),
      pathSkipped: (p) => events.push(`skipped ${p}`),
      pathRefused: (p, why) => events.push(`refused ${p} ${why}`),
    };
    const result = await receivePush(
      pushRequests(closure, { compression, nix: nix() }, signal()),
      deps(robot, observer),
      signal(),
    );
    const total = closure.reduce((n, i) => n + i.narSize, 0);
    expect(result).toEqual({ imported: closure.map((i) => i.storePath), skipped: [], narBytes: total });
    expect(narBytes).toBe(total);
    expect(events).toEqual(closure.map((i) => `imported ${i.storePath} ${i.narSize}`));
    const there = await computeClosure(closure.at(-1)?.storePath ?? "", signal(), {
      storeUri: storeOf(robot),
      env: fx.env,
    });
    expect(there).toEqual(closure.map((i) => ({ ...i, deriver: "" })));
    // nix re-hashes every file of every path against its registered NAR hash.
    await fx.nixStore(["--verify", "--check-contents"], storeOf(robot));
    expect(await childProcesses()).toEqual([]);
  });

  it("answers which paths are missing", async () => {
    const robot = newRobot();
    const paths = closure.map((i) => i.storePath);
    expect(await queryMissingPaths(robot, paths, signal())).toEqual(paths);
    await receivePush(
      pushRequests(closure.slice(0, 2), { compression: Compression.COMPRESSION_NONE, nix: nix() }, signal()),
      deps(robot),
      signal(),
    );
    expect(await queryMissingPaths(robot, paths, signal())).toEqual(paths.slice(2));
    // nix-core's error; server/status.ts makes it INVALID_ARGUMENT (status.test.ts).
    await expect(queryMissingPaths(robot, ["/nix/store/../etc"], signal())).rejects.toMatchObject({
      name: "NixFormatError",
      code: "STORE_PATH",
    });
  });

  it("skips paths that are valid already, reading and dropping their bytes", async () => {
    const robot = newRobot();
    const push = () =>
      receivePush(
        pushRequests(closure, { compression: Compression.COMPRESSION_ZSTD, nix: nix() }, signal()),
        deps(robot),
        signal(),
      );
    await push();
    const again = await push();
    expect(again.imported).toEqual([]);
    expect(again.skipped).toEqual(closure.map((i) => i.storePath));
    expect(again.narBytes).toBe(closure.reduce((n, i) => n + i.narSize, 0));
  });

  it("resumes a cut-off push by sending only the missing paths", async () => {
    const robot = newRobot();
    const big = closure.findIndex((i) => i.narSize > 1024 * 1024);
    expect(big).toBeGreaterThan(0);
    // The link drops in the middle of the big path's bytes.
    const cut = async function* (): AsyncGenerator<PushPathsRequest> {
      let chunksOfBig = 0;
      let current = "";
      for await (const m of pushRequests(
        closure,
        { compression: Compression.COMPRESSION_NONE, nix: nix() },
        signal(),
      )) {
        if (m.item?.$case === "path") current = m.item.value.storePath;
        if (m.item?.$case === "chunk" && current === closure[big]?.storePath && ++chunksOfBig === 3) {
          throw new Error("connection reset");
        }
        yield m;
      }
    };
    await expect(receivePush(cut(), deps(robot), signal())).rejects.toMatchObject({ code: "ABORTED" });
    const before = closure.slice(0, big).map((i) => i.storePath);
    expect(
      await fx.validAmong(
        closure.map((i) => i.storePath),
        storeOf(robot),
      ),
    ).toEqual(before);

    const missing = new Set(
      await queryMissingPaths(
        robot,
        closure.map((i) => i.storePath),
        signal(),
      ),
    );
    const rest = closure.filter((i) => missing.has(i.storePath));
    expect(rest.map((i) => i.storePath)).toEqual(closure.slice(big).map((i) => i.storePath));
    const sent: string[] = [];
    const counted = async function* (): AsyncGenerator<PushPathsRequest> {
      for await (const m of pushRequests(
        rest,
        { compression: Compression.COMPRESSION_GZIP, nix: nix() },
        signal(),
      )) {
        if (m.item?.$case === "path") sent.push(m.item.value.storePath);
        yield m;
      }
    };
    const result = await receivePush(counted(), deps(robot), signal());
    expect(sent).toEqual(rest.map((i) => i.storePath));
    expect(result.imported).toEqual(rest.map((i) => i.storePath));
    expect(
      await fx.validAmong(
        closure.map((i) => i.storePath),
        storeOf(robot),
      ),
    ).toHaveLength(closure.length);
  });
});
