// The CLI run's TLS cache (tls-cache.ts) over real files: a fleet's shared files are parsed once,
// a rotated file (renamed into place, or rewritten) is read again.
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../targets/inventory.js";
import { makeTestPki, type TestPki } from "../testing/pki.js";
import { readTlsMaterial } from "./credentials.js";
import { RESTAT_MS, TlsCache } from "./tls-cache.js";

let dir: string;
let pki: TestPki;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rr-tls-cache-"));
  pki = makeTestPki(join(dir, "pki"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fleetTarget(name: string, certFile: string, keyFile: string): Target {
  return { name, address: "127.0.0.1:1", caFile: pki.ca, certFile, keyFile, serverName: undefined };
}

/** A cache whose entries are the certificate bytes read, and how often it read them; its clock is `clock.now`. */
function counting(clock = { now: 0 }) {
  const cache = new TlsCache<string>(() => clock.now);
  let reads = 0;
  const get = (t: Target) =>
    cache.get(t, async () => {
      reads++;
      return (await readTlsMaterial(t)).cert.toString();
    });
  return { get, reads: () => reads };
}

describe("TlsCache", () => {
  it("reads a fleet's shared files once, however many robots and however concurrently", async () => {
    const c = counting();
    const targets = Array.from({ length: 20 }, (_, i) => fleetTarget(`r${i}`, pki.clientCert, pki.clientKey));
    const certs = await Promise.all(targets.map(c.get));
    expect(new Set(certs).size).toBe(1);
    expect(c.reads()).toBe(1);
  });

  it("reads a certificate again once it is rotated: renamed into place, or rewritten", async () => {
    const cert = join(dir, "rotating.pem");
    const key = join(dir, "rotating.key");
    copyFileSync(pki.clientCert, cert);
    copyFileSync(pki.clientKey, key);
    const clock = { now: 0 };
    const c = counting(clock);
    const t = fleetTarget("r1", cert, key);
    expect(await c.get(t)).toContain("BEGIN CERTIFICATE");
    clock.now += RESTAT_MS;
    // Rotation as the lab and most tools do it: key and certificate renamed over the old ones.
    copyFileSync(pki.otherClientCert, `${cert}.new`);
    copyFileSync(pki.otherClientKey, `${key}.new`);
    renameSync(`${key}.new`, key);
    renameSync(`${cert}.new`, cert);
    const rotated = await c.get(t);
    expect(c.reads()).toBe(2);
    expect(rotated).not.toBe(await counting().get(fleetTarget("r2", pki.clientCert, pki.clientKey)));
    // Rewritten in place (another size): read again too.
    writeFileSync(cert, `${rotated}\n`);
    clock.now += RESTAT_MS;
    expect(await c.get(t)).toBe(`${rotated}\n`);
    expect(c.reads()).toBe(3);
  });

  it("stats the files once per RESTAT_MS, not per robot: a rotation within it waits for the next", async () => {
    const cert = join(dir, "window.pem");
    copyFileSync(pki.clientCert, cert);
    const clock = { now: 0 };
    const c = counting(clock);
    const t = (i: number) => fleetTarget(`r${i}`, cert, pki.clientKey);
    const first = await c.get(t(0));
    writeFileSync(cert, `${first}\n`);
    clock.now += RESTAT_MS - 1;
    // A fleet's later robots in the same second: the stat already made stands (no read, no stat).
    expect(await c.get(t(1))).toBe(first);
    expect(c.reads()).toBe(1);
    clock.now += 1;
    expect(await c.get(t(2))).toBe(`${first}\n`);
    expect(c.reads()).toBe(2);
  });
});
