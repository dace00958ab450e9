import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSecretKey } from "./keys.js";
import { SERVE_CLIENT_VERSION, SERVE_MAGIC_1, ServeCommand } from "./serve-protocol.js";
import { type SignedFields, signPath } from "./signature.js";
import { NixFixture } from "./testing/nix-fixture.js";
import { str, strs, u64 } from "./wire.js";

/**
 * The other direction from signature.test.ts: paths registered with OUR
 * signature (as the controller makes it in production) pass real
 * `nix store verify --sigs-needed 1`, and only with the key that signed.
 */
describe("nix store verify accepts what signPath makes", () => {
  let fx: NixFixture;
  let other: NixFixture;
  let info: SignedFields;
  let robots = 0;

  beforeAll(async () => {
    fx = await NixFixture.create("ci-signer-1");
    other = await NixFixture.create("ci-signer-1"); // same name, different key
    const path = await fx.build('builtins.toFile "verify-me" "signed by nix-core"');
    const [j] = await fx.pathInfo([path]);
    const { narHash, narSize } = j as { narHash: string; narSize: number };
    info = { storePath: path, narHash, narSize, references: [], signatures: [] };
  }, 60_000);

  afterAll(async () => {
    await fx.cleanup();
    await other.cleanup();
  });

  /** Registers `info` with `signature` in a fresh store (cmdAddToStoreNar, as the agent imports). */
  async function registerWith(signature: string): Promise<string> {
    const store = fx.store(`verify-robot-${++robots}`);
    const child = spawn("nix-store", ["--store", store, "--serve", "--write"], {
      stdio: ["pipe", "ignore", "inherit"],
      env: fx.env,
    });
    const exited = once(child, "close");
    child.stdin.end(
      Buffer.concat([
        u64(SERVE_MAGIC_1),
        u64(SERVE_CLIENT_VERSION),
        u64(ServeCommand.AddToStoreNar),
        str(info.storePath),
        str(""), // deriver
        str(info.narHash),
        strs([]), // references
        u64(0), // registration time
        u64(info.narSize),
        u64(0), // ultimate
        strs([signature]),
        str(""), // content address
        await fx.dump(info.storePath),
      ]),
    );
    expect(await exited).toEqual([0, null]);
    return store;
  }

  const verify = (store: string, publicKey: string) =>
    fx
      .nix(
        [
          "store",
          "verify",
          "--no-contents",
          "--sigs-needed",
          "1",
          "--trusted-public-keys",
          publicKey,
          info.storePath,
        ],
        store,
      )
      .then(
        () => "verified",
        (e: { stderr?: string }) => e.stderr ?? "failed",
      );

  it("with the key that signed, and not with another key of the same name", async () => {
    const ours = signPath(info, parseSecretKey(await readFile(fx.secretKeyFile, "utf8")));
    const store = await registerWith(ours);
    expect(await verify(store, fx.publicKey)).toBe("verified");
    expect(await verify(store, other.publicKey)).toContain("untrusted");
  });

  it("not when the signature covers other facts (a NAR size off by one)", async () => {
    const key = parseSecretKey(await readFile(fx.secretKeyFile, "utf8"));
    const store = await registerWith(signPath({ ...info, narSize: info.narSize + 1 }, key));
    expect(await verify(store, fx.publicKey)).toContain("untrusted");
  });
});
