// The inventory's TLS files as the CLI reads them (issue 24): real files, FIFOs, devices and a
// sparse 1 GB file; real PEM from openssl.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../targets/inventory.js";
import { makeTestPki, type TestPki } from "../testing/pki.js";
import { readTlsMaterial } from "./credentials.js";
import { MAX_TLS_FILE_BYTES, readRegularFile } from "./tls-files.js";

let dir: string;
let pki: TestPki;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rr-tls-files-"));
  pki = makeTestPki(join(dir, "pki"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const target = (files: Partial<Pick<Target, "caFile" | "certFile" | "keyFile">>): Target => ({
  name: "robot1",
  address: "127.0.0.1:1",
  caFile: pki.ca,
  certFile: pki.clientCert,
  keyFile: pki.clientKey,
  serverName: undefined,
  ...files,
});

const file = (name: string, content: string | Buffer): string => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

/** The one-line message readTlsMaterial refuses `t` with. */
async function refusal(t: Target): Promise<string> {
  const e = await readTlsMaterial(t).then(
    () => new Error("accepted"),
    (e: unknown) => e as Error,
  );
  expect(e).toMatchObject({ name: "UserError", exitCode: 1 });
  expect(e.message).not.toContain("\n");
  return e.message;
}

describe("the inventory's TLS files", () => {
  it("reads a good CA, certificate and key", async () => {
    const m = await readTlsMaterial(target({}));
    expect(m.ca.equals(readFileSync(pki.ca))).toBe(true);
    expect(m.key.equals(readFileSync(pki.clientKey))).toBe(true);
  });

  it("refuses /dev/zero, a FIFO and a directory without reading them", async () => {
    expect(await refusal(target({ caFile: "/dev/zero" }))).toBe(
      "robot1: caFile /dev/zero: is a character device, not a regular file",
    );
    const fifo = join(dir, "ca.fifo");
    execFileSync("mkfifo", [fifo]);
    // No writer ever comes: a blocking open would never return.
    expect(await refusal(target({ certFile: fifo }))).toBe(
      `robot1: certFile ${fifo}: is a FIFO, not a regular file`,
    );
    const sub = join(dir, "a-dir");
    mkdirSync(sub);
    expect(await refusal(target({ keyFile: sub }))).toBe(
      `robot1: keyFile ${sub}: is a directory, not a regular file`,
    );
  });

  it("refuses a file over 1 MiB by its size, before reading it", async () => {
    const big = file("big.pem", "");
    truncateSync(big, 1024 ** 3); // sparse: nothing on disk, 1 GB to read
    const started = process.memoryUsage().rss;
    expect(await refusal(target({ caFile: big }))).toBe(
      `robot1: caFile ${big}: is ${1024 ** 3} bytes, more than the ${MAX_TLS_FILE_BYTES} a TLS file may have`,
    );
    expect(process.memoryUsage().rss - started).toBeLessThan(64 * 1024 * 1024);
  });

  it("reads to the end whatever fstat said, and bounds the bytes read, not only the size", async () => {
    // /proc files say 0 bytes and have more.
    const status = await readRegularFile("/proc/self/status");
    expect(status.toString()).toMatch(/^Name:.*\n[\s\S]*VmRSS:/);
    await expect(readRegularFile("/proc/self/status", 10)).rejects.toThrow(
      "grew beyond the 10 bytes a TLS file may have",
    );
  });

  it("an empty CA is 'empty CA file', not a TLS error later", async () => {
    expect(await refusal(target({ caFile: file("empty.pem", "") }))).toBe(
      `robot1: caFile ${join(dir, "empty.pem")}: empty CA file`,
    );
    expect(await refusal(target({ caFile: file("blank.pem", " \n\n") }))).toContain(": empty CA file");
  });

  it("a CA without a certificate, or with one that does not parse, is named", async () => {
    expect(await refusal(target({ caFile: pki.clientKey }))).toBe(
      `robot1: caFile ${pki.clientKey}: has no PEM CERTIFICATE block`,
    );
    const good = readFileSync(pki.ca, "utf8");
    const broken = good.replace(/(-----BEGIN CERTIFICATE-----\n)[A-Za-z0-9+/]{20}/, "$1AAAAAAAAAAAAAAAAAAAA");
    expect(await refusal(target({ caFile: file("broken.pem", `${good}${broken}`) }))).toMatch(
      /^robot1: caFile .*broken\.pem: certificate 2 of 2 does not parse: /,
    );
  });

  it("a certificate or key that does not parse, or a key of another certificate, is named", async () => {
    expect(await refusal(target({ certFile: pki.clientKey }))).toBe(
      `robot1: certFile ${pki.clientKey}: has no PEM CERTIFICATE block`,
    );
    expect(await refusal(target({ keyFile: pki.clientCert }))).toMatch(
      new RegExp(`^robot1: keyFile ${pki.clientCert}: is not a PEM private key: `),
    );
    expect(await refusal(target({ keyFile: pki.otherClientKey }))).toBe(
      `robot1: keyFile ${pki.otherClientKey}: is not the key of certFile's certificate`,
    );
  });

  it("echoes a long path bounded, and control characters as '?'", async () => {
    const name = `\u001b]0;pwned\u0007${"x".repeat(230)}`;
    const p = join(dir, `${name}.pem`);
    writeFileSync(p, "");
    const m = await refusal(target({ caFile: p }));
    expect(m).not.toMatch(/\p{Cc}/u);
    expect(m.length).toBeLessThan(300);
    expect(m).toContain("…: empty CA file");
  });
});
