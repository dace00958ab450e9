import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dumpNar, NarDumpError, type NixCliOptions } from "@ros-rollback/nix-core";
import { childProcesses, diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import type { PathInfo } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeClosure } from "../closure/compute-closure.js";
import { UserError } from "../core/errors.js";
import { type NarPiece, type NarSourceOptions, readNars } from "./nar-source.js";

let fx: NixFixture;
let work: string;
/** The diamond (text files, one of ~1.9 MiB) and a tree of every kind of entry, in one list. */
let closure: PathInfo[];
let dumps: Buffer[];
const signal = () => AbortSignal.timeout(30_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });

beforeAll(async () => {
  fx = await NixFixture.create();
  work = await mkdtemp(join(tmpdir(), "rr-nar-source-"));
  const tree = join(work, "tree");
  await mkdir(join(tree, "sub", "empty"), { recursive: true });
  await writeFile(join(tree, "big.bin"), Buffer.alloc(3 * 1024 * 1024 + 3, 7));
  await writeFile(join(tree, "sub", "run"), "#!/bin/sh\n", { mode: 0o755 });
  await writeFile(join(tree, "sub", "Zero"), "");
  await writeFile(join(tree, "z-last"), "the last file");
  await symlink("sub/run", join(tree, "link"));
  await symlink("/nowhere", join(tree, "dangling"));
  closure = [
    ...(await computeClosure(await fx.build(diamondExpr("nar-source")), signal(), nix())),
    ...(await computeClosure(await fx.add(tree), signal(), nix())),
  ];
  dumps = await Promise.all(closure.map((i) => fx.dump(i.storePath)));
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** Every piece, and which paths readNars asked the filesystem for. */
async function read(
  infos: readonly PathInfo[],
  source: NarSourceOptions = {},
  options: NixCliOptions = nix(),
): Promise<{ pieces: NarPiece[]; fromFs: string[] }> {
  const fromFs: string[] = [];
  const pieces: NarPiece[] = [];
  const dump: typeof dumpNar = (path, o) => {
    fromFs.push(path);
    return (source.dump ?? dumpNar)(path, o);
  };
  for await (const p of readNars(infos, options, signal(), { ...source, dump })) pieces.push(p);
  return { pieces, fromFs };
}

function expectNars(pieces: readonly NarPiece[], expected: readonly Buffer[]): void {
  expected.forEach((nar, index) => {
    const mine = pieces.filter((p) => p.index === index);
    const bytes = Buffer.concat(mine.map((p) => p.data));
    expect(bytes.length).toBe(nar.length);
    // Buffer.equals: vitest's deep equality walks megabytes byte by byte.
    expect(bytes.equals(nar)).toBe(true);
    expect(mine.map((p) => p.last)).toEqual(mine.map((_, i) => i === mine.length - 1));
    expect(mine.every((p) => p.data.length > 0 && p.data.length <= 128 * 1024)).toBe(true);
  });
  expect(pieces.map((p) => p.index)).toEqual([...pieces.map((p) => p.index)].sort((a, b) => a - b));
}

describe("readNars", () => {
  it("reads a chroot store's files directly: exactly nix-store --dump, no nix process", async () => {
    const { pieces, fromFs } = await read(closure);
    expectNars(pieces, dumps);
    expect(fromFs).toEqual(closure.map((i) => join(fx.sourceStore, i.storePath)));
  });

  it("reads any other store (here the same one as a store URI) through nix-store --serve, the same bytes", async () => {
    const uri = { storeUri: `local?root=${fx.sourceStore}`, env: fx.env };
    const viaUri = await read(closure, {}, uri);
    expectNars(viaUri.pieces, dumps);
    expect(viaUri.fromFs).toEqual([]);
    const forced = await read(closure, { from: "serve" });
    expectNars(forced.pieces, dumps);
    expect(forced.fromFs).toEqual([]);
  });

  it("falls back to one nix-store --serve when a file is unreadable mid-path, skipping what was sent", async () => {
    const tree = closure.length - 1;
    const falls: string[] = [];
    const unreadable: typeof dumpNar = async function* (path, o) {
      let n = 0;
      for await (const piece of dumpNar(path, o)) {
        if (path.endsWith(closure[tree]?.storePath ?? "?") && n++ === 3) {
          throw new NarDumpError("UNREADABLE", Buffer.from(path), "cannot open: EACCES");
        }
        yield piece;
      }
    };
    const { pieces, fromFs } = await read(closure, { dump: unreadable, onFallback: (w) => falls.push(w) });
    expectNars(pieces, dumps);
    expect(falls).toEqual(["cannot open: EACCES"]);
    expect(fromFs.length).toBe(closure.length);
  });

  it("falls back when the default store is not where its paths are on disk (nix.conf's store)", async () => {
    const elsewhere = {
      env: { ...fx.env, NIX_CONFIG: `${fx.env.NIX_CONFIG ?? ""}\nstore = ${fx.sourceStore}` },
    };
    const falls: string[] = [];
    const { pieces, fromFs } = await read(closure, { onFallback: (w) => falls.push(w) }, elsewhere);
    expectNars(pieces, dumps);
    // The first path is looked for in /nix/store, missing there; the rest come from nix.
    expect(fromFs).toEqual([closure[0]?.storePath]);
    expect(falls).toHaveLength(1);
    expect(falls[0]).toMatch(/ENOENT/);
  });

  it("lets the event loop turn while it reads, even for a consumer that never waits", async () => {
    // Synchronous reads behind microtasks alone would run the whole closure before any timer.
    let pieces = 0;
    let timerAt: number | undefined;
    const timer = setTimeout(() => {
      timerAt = pieces;
    }, 0);
    for await (const _ of readNars(closure, nix(), signal())) pieces++;
    clearTimeout(timer);
    expect(timerAt).toBeDefined();
    expect(timerAt).toBeLessThan(pieces);
  });

  it.each([
    ["the filesystem", {}],
    ["nix-store --serve", { from: "serve" as const }],
  ])("withholds the last piece of a path whose bytes are not its recorded hash (%s)", async (_, source) => {
    const big = closure.findIndex((i) => i.narSize > 1024 * 1024);
    const lying = closure.map((info, i) =>
      i === big ? { ...info, narHash: closure[0]?.narHash ?? "" } : info,
    );
    const seen: NarPiece[] = [];
    const run = async () => {
      for await (const p of readNars(lying, nix(), signal(), source)) seen.push(p);
    };
    const e = await run().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/no longer matches its NAR hash/);
    expect(seen.some((p) => p.index === big && p.last)).toBe(false);
    expect(seen.some((p) => p.index > big)).toBe(false);
    await expectNoChildren();
  });

  it("refuses a path whose NAR is longer or shorter than recorded, before its last piece", async () => {
    for (const delta of [-8, 8]) {
      const wrong = closure.map((info, i) => (i === 0 ? { ...info, narSize: info.narSize + delta } : info));
      const seen: NarPiece[] = [];
      const run = async () => {
        for await (const p of readNars(wrong, nix(), signal())) seen.push(p);
      };
      await expect(run()).rejects.toThrow(
        /no longer matches its NAR hash \((longer|shorter) than recorded\)/,
      );
      expect(seen.some((p) => p.last)).toBe(false);
    }
  });
});

describe("readNars, a store changed under it", () => {
  /** A fresh path of the tree shape, its info and its real directory in the chroot store. */
  async function freshTree(tag: string): Promise<{ info: PathInfo; real: string }> {
    const dir = join(work, tag);
    await mkdir(dir);
    await writeFile(join(dir, "a-big"), Buffer.alloc(2 * 1024 * 1024, tag.length));
    await writeFile(join(dir, "b-small"), `small ${tag}`);
    const [info] = await computeClosure(await fx.add(dir), signal(), nix());
    if (info === undefined) throw new Error("no path");
    return { info, real: join(fx.sourceStore, info.storePath) };
  }

  async function readChanging(
    info: PathInfo,
    change: () => Promise<void>,
  ): Promise<{ e: unknown; seen: NarPiece[] }> {
    const seen: NarPiece[] = [];
    try {
      for await (const p of readNars([info], nix(), signal())) {
        if (seen.push(p) === 1) await change();
      }
    } catch (e) {
      return { e, seen };
    }
    return { e: undefined, seen };
  }

  it("a file that vanishes mid-read: a UserError naming it, the last piece withheld", async () => {
    const { info, real } = await freshTree("vanish");
    const { e, seen } = await readChanging(info, () => unlink(join(real, "b-small")));
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/no longer matches its NAR hash \(.*b-small.*ENOENT/);
    expect(seen.some((p) => p.last)).toBe(false);
  });

  it("a file rewritten mid-read at the same size: the hash catches it, the last piece withheld", async () => {
    const { info, real } = await freshTree("rewrite");
    const { e, seen } = await readChanging(info, async () => {
      await writeFile(join(real, "b-small"), "SMALL rewrite");
    });
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/no longer matches its NAR hash; run nix-store --verify/);
    expect(seen.some((p) => p.last)).toBe(false);
  });
});

async function expectNoChildren(): Promise<void> {
  for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(await childProcesses()).toEqual([]);
}
