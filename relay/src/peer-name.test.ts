import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { routableName } from "./peer-name.js";

const dir = mkdtempSync(join(tmpdir(), "relay-cn-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate with openssl's `-subj` (and -multivalue-rdn for "+"); its subject as Node reads it. */
function subjectOf(subj: string): string {
  const out = join(dir, `${Math.random().toString(36).slice(2)}.pem`);
  // biome-ignore format: flag pairs
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", join(dir, "k"), "-days", "1", "-subj", subj, "-multivalue-rdn", "-out", out,
  ], { stdio: "ignore" });
  return new X509Certificate(readFileSync(out)).subject;
}

describe("the robot's name from its certificate's subject", () => {
  it("one CN: its value", () => {
    expect(routableName(subjectOf("/CN=rl-robot1"))).toBe("rl-robot1");
    expect(routableName(subjectOf("/O=fleet/OU=robots/CN=rl-robot1"))).toBe("rl-robot1");
  });

  it("no CN: refused", () => {
    expect(routableName(subjectOf("/O=fleet/OU=rl-robot1"))).toBeUndefined();
    expect(routableName(undefined)).toBeUndefined();
  });

  it("two CNs, in two RDNs or one multi-valued RDN: refused, never one of them chosen", () => {
    expect(routableName(subjectOf("/CN=rl-a/CN=rl-b"))).toBeUndefined();
    expect(routableName(subjectOf("/CN=rl-a+CN=rl-b"))).toBeUndefined();
    expect(routableName(subjectOf("/O=fleet+CN=rl-a/CN=rl-b"))).toBeUndefined();
  });

  it("a CN that is not a routable name, or that hides another attribute in its value: refused", () => {
    expect(routableName(subjectOf("/CN=rl robot"))).toBeUndefined();
    expect(routableName(subjectOf("/CN=rl-a\\+CN=rl-b"))).toBeUndefined();
    expect(routableName(subjectOf("/CN=rl-a, CN=rl-b"))).toBeUndefined();
    expect(routableName("CN=rl-a\\0ACN=rl-b")).toBeUndefined();
  });
});
