import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isNixFormatError } from "@ros-rollback/nix-core";
// Test-only helper shared with the agent's store tests (throwaway chroot stores).
import { diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import type { PathInfo } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asUserError, ExitCode, UserError } from "../core/errors.js";
import { computeClosure } from "./compute-closure.js";
import { signPaths } from "./sign-paths.js";

let fx: NixFixture;
let top: string;
const signal = () => AbortSignal.timeout(30_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });

beforeAll(async () => {
  fx = await NixFixture.create("ci-builder-1");
  top = await fx.build(diamondExpr("closure"));
}, 60_000);

afterAll(async () => {
  await fx.cleanup();
});

describe("computeClosure", () => {
  it("returns the closure nix-store -qR gives, references first, hashes as sha256:<base32>", async () => {
    const closure = await computeClosure(top, signal(), nix());
    const qR = (await fx.nixStore(["-qR", top])).trim().split("\n").sort();
    expect(closure.map((i) => i.storePath).sort()).toEqual(qR);
    expect(closure.at(-1)?.storePath).toBe(top);
    const seen = new Set<string>();
    for (const info of closure) {
      for (const r of info.references) if (r !== info.storePath) expect(seen.has(r)).toBe(true);
      seen.add(info.storePath);
      expect(info.narHash).toMatch(/^sha256:[0-9abcdfghijklmnpqrsvwxyz]{52}$/);
    }
    // Same facts as nix's own JSON (which prints SRI hashes).
    const raw = await fx.pathInfo([top]);
    expect(closure.at(-1)?.narSize).toBe(raw[0]?.narSize);
  });

  it("fails with nix's message for a path that is not in the store", async () => {
    const missing = "/nix/store/00000000000000000000000000000000-nothing";
    const e = await computeClosure(missing, signal(), nix()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toContain("nothing");
  });

  it("honours the abort signal", async () => {
    const ac = new AbortController();
    ac.abort(new Error("interrupted"));
    await expect(computeClosure(top, ac.signal, nix())).rejects.toThrow("interrupted");
  });
});

describe("signPaths", () => {
  it("adds exactly the signatures `nix store sign` makes, without touching the store", async () => {
    const closure = await computeClosure(top, signal(), nix());
    expect(closure.every((i) => i.signatures.length === 0)).toBe(true);
    const ours = await signPaths(closure, fx.secretKeyFile, signal());
    expect((await computeClosure(top, signal(), nix())).every((i) => i.signatures.length === 0)).toBe(true);

    await fx.sign(top);
    const nixSigned = await computeClosure(top, signal(), nix());
    expect(ours).toEqual(nixSigned);
    expect(ours[0]?.signatures[0]).toMatch(/^ci-builder-1:[A-Za-z0-9+/]{86}==$/);
  });

  it("replaces a stale signature by the same key and keeps others", async () => {
    const [info] = await computeClosure(top, signal(), nix());
    const stale: PathInfo = { ...(info as PathInfo), signatures: ["ci-builder-1:stale", "other:keep"] };
    const [signed] = await signPaths([stale], fx.secretKeyFile);
    expect(signed?.signatures).toHaveLength(2);
    expect(signed?.signatures[0]).toBe("other:keep");
    expect(signed?.signatures[1]).not.toContain("stale");
  });

  it("refuses a missing or malformed key file without echoing it", async () => {
    await expect(signPaths([], join(fx.root, "nope.key"))).rejects.toThrow(/cannot read secret key/);
    const bad = join(fx.root, "bad.key");
    await writeFile(bad, "name:c2VjcmV0c2VjcmV0");
    const e = await signPaths([], bad).catch((x: unknown) => x);
    expect(isNixFormatError(e) && e.code).toBe("KEY");
    expect((e as Error).message).toMatch(
      new RegExp(`^secret key file ${bad}: Nix secret key "name" is not 64 bytes$`),
    );
    expect((e as Error).message).not.toContain("c2VjcmV0c2VjcmV0");
    // What the user sees: one line, exit 1, not a bug.
    const user = asUserError(e);
    expect(user).toBeInstanceOf(UserError);
    expect(user?.exitCode).toBe(ExitCode.Unchanged);
    expect(user?.message).toBe((e as Error).message);
  });
});
