import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childProcesses, NixFixture } from "../../../nix-core/src/testing/nix-fixture.js";
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
    const error = await store.openImport(AbortSignal.timeout(30_000)).then(
      () => expect.unreachable("openImport should have failed"),
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error.code).toBe("EXTERNAL_COMMAND_FAILED");
    expect(error.message).toContain("no second nix-store today");
    for (let i = 0; i < 100 && (await childProcesses()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await childProcesses()).toEqual([]);
  });
});
