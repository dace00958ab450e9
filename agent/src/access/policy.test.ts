import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../config/load.js";
import { isStartupError } from "../errors.js";
import { type PeerIdentity, peerIdentity, sanUris } from "./identity.js";

const key = "lab-1:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=";
const tls = { caFile: "/etc/rr/ca.pem", certFile: "/etc/rr/agent.pem", keyFile: "/etc/rr/agent.key" };
const FP = Array.from({ length: 32 }, () => "AB").join(":");

async function load(config: unknown) {
  const dir = mkdtempSync(join(tmpdir(), "rr-access-config-"));
  try {
    writeFileSync(join(dir, "c.json"), JSON.stringify(config));
    return await loadConfig(join(dir, "c.json"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function refusal(config: unknown): Promise<{ exit: number; message: string }> {
  try {
    await load(config);
  } catch (e) {
    if (isStartupError(e)) return { exit: e.exitCode, message: e.message };
    throw e;
  }
  throw new Error("loaded");
}

const id = (over: Partial<PeerIdentity>): PeerIdentity => ({
  fingerprint: FP,
  cn: [],
  o: [],
  ou: [],
  uris: [],
  ...over,
});

describe("the access section", () => {
  const base = { listen: "0.0.0.0:1", tls, trustedPublicKeys: [key] };

  it("absent: not enforced, every role for everyone", async () => {
    const c = await load(base);
    expect(c.access.enforced).toBe(false);
    expect([...c.access.rolesOf(undefined)]).toEqual(["read", "deploy", "hold"]);
  });

  it("compiles rules: every named field must match; roles are the union; unmatched gets none", async () => {
    const c = await load({
      ...base,
      access: {
        rules: [
          { o: "fleet", ou: "ops", roles: ["read"] },
          { uri: "spiffe://fleet/ops/alice", roles: ["deploy", "hold"] },
          { fingerprint: FP.toLowerCase(), roles: ["hold"] },
        ],
      },
    });
    const roles = (i: PeerIdentity | undefined) => [...c.access.rolesOf(i)].sort();
    expect(c.access.enforced).toBe(true);
    expect(roles(id({ o: ["fleet"], ou: ["ops"] }))).toEqual(["hold", "read"]);
    expect(roles(id({ o: ["fleet"], ou: ["dev"], fingerprint: "00" }))).toEqual([]);
    expect(roles(id({ uris: ["spiffe://fleet/ops/alice"], fingerprint: "00" }))).toEqual(["deploy", "hold"]);
    expect(roles(id({ uris: ["spiffe://fleet/ops/alice/x"], fingerprint: "00" }))).toEqual([]);
    expect(roles(undefined)).toEqual([]);
  });

  it.each([
    [
      "a rule naming no field (it would match everyone)",
      { rules: [{ roles: ["read"] }] },
      /at least one of cn/,
    ],
    ["an unknown role", { rules: [{ cn: "a", roles: ["admin"] }] }, /access.rules.0.roles.0/],
    ["no roles", { rules: [{ cn: "a", roles: [] }] }, /access.rules.0.roles/],
    [
      "an unknown key",
      { rules: [{ cn: "a", group: "x", roles: ["read"] }] },
      /unknown key "access.rules.0.group"/,
    ],
    ["a bad fingerprint", { rules: [{ fingerprint: "AB:CD", roles: ["read"] }] }, /SHA-256 fingerprint/],
    ["an empty CN", { rules: [{ cn: "", roles: ["read"] }] }, /access.rules.0.cn/],
  ])("refuses %s at start: exit 78 naming the key", async (_what, access, message) => {
    const r = await refusal({ ...base, access });
    expect(r.exit).toBe(78);
    expect(r.message).toMatch(message);
  });

  it("refuses access without tls (insecure): exit 78", async () => {
    const r = await refusal({
      listen: "127.0.0.1:1",
      insecure: true,
      trustedPublicKeys: [key],
      access: { rules: [{ cn: "a", roles: ["read"] }] },
    });
    expect(r).toMatchObject({ exit: 78, message: expect.stringMatching(/need tls, not insecure/) });
  });
});

describe("identities from certificates", () => {
  it("reads node's subjectaltname: JSON-quoted values are one entry; other kinds are skipped", () => {
    expect(sanUris('DNS:a, URI:spiffe://x, URI:"spiffe://y, URI:spiffe://z", IP Address:1.2.3.4')).toEqual([
      "spiffe://x",
      "spiffe://y, URI:spiffe://z",
    ]);
    expect(sanUris(undefined)).toEqual([]);
    expect(sanUris('URI:"unterminated')).toEqual([]);
  });

  it("keeps at most 16 values per field; no fingerprint, no identity", () => {
    const many = Array.from({ length: 40 }, (_, i) => `o${i}`);
    expect(peerIdentity({ fingerprint256: FP, subject: { O: many } })?.o).toHaveLength(16);
    expect(peerIdentity({ subject: { CN: "x" } })).toBeUndefined();
    expect(peerIdentity({ fingerprint256: "", subject: { CN: "x" } })).toBeUndefined();
  });
});
