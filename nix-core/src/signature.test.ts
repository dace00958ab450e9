import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNixFormatError, NixFormatError } from "./errors.js";
import {
  formatPublicKey,
  type NixPublicKey,
  parsePublicKey,
  parseSecretKey,
  parseTrustedKeys,
} from "./keys.js";
import { checkPathSignature, fingerprint, type SignedFields, signPath } from "./signature.js";
import { NixFixture } from "./testing/nix-fixture.js";

interface NixJson {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
  signatures?: string[];
}

const fields = (j: NixJson): SignedFields => ({
  storePath: j.path,
  narHash: j.narHash,
  narSize: j.narSize,
  references: j.references,
  signatures: j.signatures ?? [],
});

function expectUntrusted(info: SignedFields, keys: readonly NixPublicKey[], ...parts: string[]): void {
  const verdict = checkPathSignature(info, keys);
  if (verdict.trusted) expect.unreachable(`expected untrusted, got signed by ${verdict.keyName}`);
  for (const p of parts) expect(verdict.message).toContain(p);
}

describe("signatures against the real nix CLI", () => {
  let fx: NixFixture;
  let other: NixFixture;
  let infos: NixJson[];

  beforeAll(async () => {
    fx = await NixFixture.create("robot-fleet-1");
    other = await NixFixture.create("robot-fleet-1"); // same name, different key
    const top = await fx.build(`let a = builtins.toFile "sig-a" "A";
      b = builtins.toFile "sig-b" "B \${a}"; in builtins.toFile "sig-c" "C \${a} \${b}"`);
    await fx.sign(top); // nix store sign --key-file … --recursive
    const closure = (await fx.nixStore(["-qR", top])).trim().split("\n");
    infos = (await fx.pathInfo(closure)).map((j) => j as unknown as NixJson);
  }, 60_000);

  afterAll(async () => {
    await fx.cleanup();
    await other.cleanup();
  });

  it("reads the key files nix-store --generate-binary-cache-key writes", async () => {
    const pk = parsePublicKey(fx.publicKey);
    expect(pk.name).toBe("robot-fleet-1");
    expect(formatPublicKey(pk)).toBe(fx.publicKey);
    const sk = parseSecretKey(await readFile(fx.secretKeyFile, "utf8"));
    expect(formatPublicKey(sk.publicKey)).toBe(fx.publicKey);
  });

  it("accepts every signature nix made, and signs exactly like nix", async () => {
    expect(infos.length).toBe(3);
    const trusted = parseTrustedKeys([other.publicKey.replace("robot-fleet-1", "other"), fx.publicKey]);
    const sk = parseSecretKey(await readFile(fx.secretKeyFile, "utf8"));
    for (const j of infos) {
      expect(j.signatures).toHaveLength(1);
      expect(checkPathSignature(fields(j), trusted)).toEqual({ trusted: true, keyName: "robot-fleet-1" });
      expect(signPath(fields(j), sk)).toBe(j.signatures?.[0]);
    }
  });

  it("builds the fingerprint Nix signs (SRI in path-info, base32 in the fingerprint, refs sorted)", () => {
    const withRefs = infos.find((j) => j.references.length === 2) as NixJson;
    const fp = fingerprint(fields({ ...withRefs, references: [...withRefs.references].reverse() }));
    const refs = [...withRefs.references].sort().join(",");
    expect(fp).toMatch(/^1;\/nix\/store\/[0-9a-z]{32}-sig-c;sha256:[0-9a-z]{52};\d+;/);
    expect(fp.endsWith(`;${withRefs.narSize};${refs}`)).toBe(true);
  });

  it("throws NixFormatError for a NAR hash or size nothing can be signed with", () => {
    const base = fields(infos[0] as NixJson);
    const errorOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isNixFormatError(e) ? { code: e.code, message: e.message } : e;
      }
      return expect.unreachable("expected a NixFormatError");
    };
    expect(errorOf(() => fingerprint({ ...base, narSize: 0 }))).toEqual({
      code: "NAR_SIZE",
      message: expect.stringContaining(base.storePath),
    });
    expect(errorOf(() => fingerprint({ ...base, narHash: "sha256:nope" }))).toEqual({
      code: "NAR_HASH",
      message: expect.stringContaining('"sha256:nope"'),
    });
  });

  it("refuses a tampered hash, size, reference list or path", () => {
    const trusted = [parsePublicKey(fx.publicKey)];
    const j = infos.find((x) => x.references.length > 0) as NixJson;
    const base = fields(j);
    const otherHash = (infos.find((x) => x.narHash !== j.narHash) as NixJson).narHash;
    expectUntrusted({ ...base, narHash: otherHash }, trusted, j.path, "bad signature");
    expectUntrusted({ ...base, narSize: base.narSize + 1 }, trusted, "bad signature");
    expectUntrusted({ ...base, references: [] }, trusted, "bad signature");
    const renamed = base.storePath.replace(/-sig-/, "-sih-");
    expectUntrusted({ ...base, storePath: renamed }, trusted, "bad signature");
  });

  it("refuses unsigned paths and signatures by keys it does not trust", () => {
    const j = infos[0] as NixJson;
    const trusted = [parsePublicKey(fx.publicKey)];
    expectUntrusted({ ...fields(j), signatures: [] }, trusted, j.path, "not signed");
    // Same key NAME, different key: must not pass.
    expectUntrusted(fields(j), [parsePublicKey(other.publicKey)], "bad signature");
    const stranger = parsePublicKey(other.publicKey.replace("robot-fleet-1", "stranger"));
    expectUntrusted(fields(j), [stranger], "no signature by a trusted key", "robot-fleet-1");
    const garbage = { ...fields(j), signatures: ["robot-fleet-1:garbage"] };
    expectUntrusted(garbage, trusted, "no signature by a trusted key");
  });

  it("refuses malformed keys without echoing secrets", () => {
    for (const bad of ["", "nocolon", "name:", ":AAAA", "name:not-base64!", "name:AAAA"]) {
      expect(() => parsePublicKey(bad)).toThrow(NixFormatError);
    }
    const secretText = `name:${Buffer.alloc(63, 7).toString("base64")}`;
    expect(() => parseSecretKey(secretText)).toThrow(NixFormatError);
    try {
      parseSecretKey(secretText);
    } catch (e) {
      expect((e as Error).message).not.toContain(secretText.slice(5));
    }
    // Halves that disagree: the seed of one key with the public half of another.
    const corrupt = `name:${Buffer.concat([Buffer.alloc(32, 1), Buffer.alloc(32, 2)]).toString("base64")}`;
    expect(() => parseSecretKey(corrupt)).toThrow(/corrupt/);
    expect(() => parseSecretKey("nocolon", "secret key file /k")).toThrow(/^secret key file \/k: malformed/);
  });
});
