import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type Server } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { READER_CN } from "./access.js";
import type { TlsFiles } from "./config.js";
import { ensureKeys, type RobotKeys } from "./pki.js";

// Real keys from openssl, a real TLS server on 127.0.0.1 that asks for client certificates.
let dir: string;
let keys: RobotKeys;
let server: Server;
let port: number;

const handshake = (client: TlsFiles, servername: string): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      servername,
      ca: readFileSync(keys.ca),
      cert: readFileSync(client.certFile),
      key: readFileSync(client.keyFile),
    });
    socket.once("data", (d: Buffer) => resolve(d.toString()));
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(`error: ${e.code ?? e.message}`));
    socket.once("end", () => resolve("closed"));
  });

describe("robot keys", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lab-pki-"));
    keys = await ensureKeys(dir, "r1", "10.231.1.2");
    server = createServer(
      {
        ca: readFileSync(keys.ca),
        cert: readFileSync(keys.agent.certFile),
        key: readFileSync(keys.agent.keyFile),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => s.end("hello"),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lets the controller in under the robot's name, its address, and localhost", async () => {
    for (const name of ["r1", "localhost"]) expect(await handshake(keys.controller, name)).toBe("hello");
    const san = new X509Certificate(readFileSync(keys.agent.certFile)).subjectAltName ?? "";
    for (const entry of ["IP Address:10.231.1.2", "DNS:r1", "DNS:localhost", "IP Address:127.0.0.1"]) {
      expect(san).toContain(entry);
    }
  });

  it("issues a read-only client certificate of the same CA, also to keys made before it existed", async () => {
    expect(await handshake(keys.reader, "r1")).toBe("hello");
    expect(new X509Certificate(readFileSync(keys.reader.certFile)).subject).toBe(`CN=${READER_CN}`);
    unlinkSync(keys.reader.certFile);
    const again = await ensureKeys(dir, "r1", "10.231.1.2");
    expect(again.publicKey).toBe(keys.publicKey);
    expect(await handshake(again.reader, "r1")).toBe("hello");
  });

  it("rejects the rogue client certificate", async () => {
    expect(await handshake({ ...keys.rogue, caFile: keys.ca }, "r1")).not.toBe("hello");
  });

  it("makes a Nix signing key named after the robot, and keeps keys across calls", async () => {
    expect(keys.publicKey).toMatch(/^lab-r1-1:[A-Za-z0-9+/]+=*$/);
    expect(readFileSync(keys.signingKey, "utf8")).toMatch(/^lab-r1-1:/);
    const again = await ensureKeys(dir, "r1", "10.231.1.2");
    expect(again.publicKey).toBe(keys.publicKey);
  });
});
