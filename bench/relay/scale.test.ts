import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCa } from "@ros-rollback/proto/testing";
import { describe, expect, it } from "vitest";
import { issueLeaf, issuerOf, sharedRobotKey } from "./certs.js";
import { quantile } from "./restart.js";

describe("the relay bench's helpers", () => {
  it("issues leaves that openssl's CA signed for, with the CN asked, and only for that CA", () => {
    const dir = mkdtempSync(join(tmpdir(), "rl-certs-"));
    try {
      makeCa(dir, "ca");
      makeCa(dir, "other");
      const read = (f: string) => readFileSync(join(dir, f), "utf8");
      const ca = new X509Certificate(read("ca.pem"));
      const other = new X509Certificate(read("other.pem"));
      const { publicKey } = sharedRobotKey();
      const leaf = new X509Certificate(
        issueLeaf("rl-sim-7", 8, publicKey, issuerOf(read("ca.pem"), read("ca.key"))),
      );
      expect(leaf.subject).toBe("CN=rl-sim-7");
      expect(leaf.checkIssued(ca)).toBe(true);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(leaf.verify(other.publicKey)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("quantiles by nearest rank", () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect([0.5, 0.95, 1, 0].map((q) => quantile(xs, q))).toEqual([5, 10, 10, 1]);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
