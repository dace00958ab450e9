import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { NixCliStore } from "@ros-rollback/agent/testing";
import { computeClosure } from "@ros-rollback/controller/testing";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import type { PathInfo } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let fx: NixFixture;
let info: PathInfo;
let nar: Buffer;

beforeAll(async () => {
  fx = await NixFixture.create();
  const file = join(fx.root, "payload");
  await writeFile(file, "x".repeat(50_000));
  const path = await fx.add(file);
  info = (
    await computeClosure(path, AbortSignal.timeout(30_000), { storeUri: fx.sourceStore, env: fx.env })
  )[0] as PathInfo;
  nar = await fx.dump(path);
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

describe("CliImport", () => {
  it("hands nix a path's last bytes with them: nix registers it while the import stays open", async () => {
    const robot = fx.store("robot");
    const store = new NixCliStore({ storeUri: robot, env: fx.env });
    let imported!: (p: string) => void;
    const registered = new Promise<string>((resolve) => {
      imported = resolve;
    });
    const session = await store.openImport(AbortSignal.timeout(60_000), { onImported: (p) => imported(p) });
    try {
      await session.beginPath(info);
      // Small pieces, as TLS records come: gathered, but none held back once the path is complete.
      for (let off = 0; off < nar.length; off += 4096) await session.writeNar(nar.subarray(off, off + 4096));
      expect(await registered).toBe(info.storePath);
      expect(await fx.isValid(info.storePath, robot)).toBe(true);
      expect(await session.finish()).toEqual([info.storePath]);
    } finally {
      await session.close(true);
    }
  });
});
