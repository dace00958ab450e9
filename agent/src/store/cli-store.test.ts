import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childProcesses, NixFixture } from "@ros-rollback/nix-core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NixCliStore } from "./cli-store.js";

let fx: NixFixture;
let bin: string;

beforeAll(async () => {
  fx = await NixFixture.create();
  bin = await mkdtemp(join(tmpdir(), "ros-rollback-nixbin-"));
  const real = execFileSync("sh", ["-c", "command -v nix-store"], { encoding: "utf8" }).trim();
  // The first nix-store started is the real one; every later one refuses to start.
  await writeFile(
    join(bin, "nix-store"),
    `#!/bin/sh\nif mkdir "${bin}/started" 2>/dev/null; then exec "${real}" "$@"; fi\necho "no second nix-store today" >&2\nexit 1\n`,
  );
  await chmod(join(bin, "nix-store"), 0o755);
}, 60_000);

afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
  await fx.cleanup();
});

describe("NixCliStore.openImport", () => {
  it("its second nix-store fails to start: refuses, and stops the first", async () => {
    // Started one after the other: at once, two nix processes race to initialise a new store.
    const store = new NixCliStore({ storeUri: fx.store("robot"), env: fx.env, nixBinDir: bin });
    await expectStartFailure(store, "no second nix-store today");
  });

  it("on a store a nix-store has opened: starts both at once; one failing to start stops the other", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ros-rollback-pair-"));
    try {
      const real = execFileSync("sh", ["-c", "command -v nix-store"], { encoding: "utf8" }).trim();
      // With dir/meet present, each nix-store waits until the other has started too, or fails alone.
      await writeFile(
        join(dir, "nix-store"),
        `#!/bin/sh
if [ -e "${dir}/meet" ]; then
  echo $$ >> "${dir}/arrived"
  i=0
  while [ "$(wc -l < "${dir}/arrived")" -lt 2 ]; do
    i=$((i+1)); [ $i -gt 500 ] && { echo "started alone" >&2; exit 1; }
    sleep 0.01
  done
  [ -e "${dir}/fail-one" ] && mkdir "${dir}/failed" 2>/dev/null && { echo "one fails" >&2; exit 1; }
fi
exec "${real}" "$@"
`,
      );
      await chmod(join(dir, "nix-store"), 0o755);
      const store = new NixCliStore({ storeUri: fx.store("pair"), env: fx.env, nixBinDir: dir });
      // A new store: one after the other (the fake does not meet yet).
      await (await store.openImport(AbortSignal.timeout(30_000))).close(true);
      // A validity query's nix-store (let through alone) opens a store too, kept or not.
      await writeFile(join(dir, "meet"), "");
      for (const keepQueryProcessMs of [0, 60_000]) {
        const queried = new NixCliStore({
          storeUri: fx.store(`pair-q${keepQueryProcessMs}`),
          env: fx.env,
          nixBinDir: dir,
          keepQueryProcessMs,
        });
        await writeFile(join(dir, "arrived"), "query\n");
        const path = `/nix/store/${"a".repeat(32)}-x`;
        expect(await queried.queryValidPaths([path], AbortSignal.timeout(30_000))).toEqual(new Set());
        await rm(join(dir, "arrived"));
        await (await queried.openImport(AbortSignal.timeout(30_000))).close(true);
        await queried.close();
        await rm(join(dir, "arrived"));
      }

      await writeFile(join(dir, "meet"), "");
      const imp = await store.openImport(AbortSignal.timeout(30_000));
      expect(await imp.queryValid([])).toEqual(new Set());
      await imp.close(true);

      await rm(join(dir, "arrived"));
      await writeFile(join(dir, "fail-one"), "");
      await expectStartFailure(store, "one fails");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** openImport fails to start a nix-store with `stderr` in its message, and leaves none running. */
async function expectStartFailure(store: NixCliStore, stderr: string): Promise<void> {
  const error = await store.openImport(AbortSignal.timeout(30_000)).then(
    () => expect.unreachable("openImport should have failed"),
    (e: unknown) => e as { code?: string; message: string },
  );
  expect(error.code).toBe("EXTERNAL_COMMAND_FAILED");
  expect(error.message).toContain(stderr);
  for (let i = 0; i < 100 && (await childProcesses()).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(await childProcesses()).toEqual([]);
}
