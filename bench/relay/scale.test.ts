import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCa } from "@ros-rollback/proto/testing";
import { describe, expect, it } from "vitest";
import { issueLeaf, issuerOf, sharedRobotKey } from "./certs.js";
import { backoffBound } from "./scale.js";

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

  it("the back-off bound: the largest delay a robot may be waiting when the relay is back", () => {
    // Ceilings 1, 2, 4… s, each delay 50–100 % of its ceiling: attempts no earlier than 0.5, 1.5, 3.5… s.
    expect([0.2, 0.5, 1, 1.5, 3, 3.5, 10, 1_000].map((d) => backoffBound(d))).toEqual([
      1, 2, 2, 4, 4, 8, 16, 60,
    ]);
  });
});
