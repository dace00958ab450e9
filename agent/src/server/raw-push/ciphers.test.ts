import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Server } from "@grpc/grpc-js";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenShared, type SharedListener, type TlsMaterial } from "../listener.js";

// GRPC_SSL_CIPHER_SUITES (server.ts passes it as `ciphers`) over real TLS on 127.0.0.1: the
// agent's own listener takes the cipher list as grpc-js's listener did.

const ALLOWED = "ECDHE-ECDSA-AES128-GCM-SHA256";
const OTHER = "ECDHE-ECDSA-AES256-GCM-SHA384";

let dir: string;
let pki: TestPki;
let tls: TlsMaterial;
const listeners: SharedListener[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rr-ciphers-"));
  pki = makeTestPki(dir);
  tls = {
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.serverCert),
    key: readFileSync(pki.serverKey),
  };
});
afterAll(async () => {
  for (const l of listeners) await l.close(0);
  rmSync(dir, { recursive: true, force: true });
});

async function listen(ciphers: string | undefined): Promise<number> {
  const l = await listenShared("127.0.0.1:0", { ...tls, ciphers }, new Server(), (s) => s.destroy());
  listeners.push(l);
  return l.port;
}

/** A client with the test certificate; resolves with the negotiated cipher and protocol, rejects when refused. */
function handshake(port: number, client: { ciphers?: string; maxVersion?: "TLSv1.2" }) {
  return new Promise<{ cipher: string; protocol: string | null }>((resolve, reject) => {
    const s = connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: tls.ca,
      cert: readFileSync(pki.clientCert),
      key: readFileSync(pki.clientKey),
      ALPNProtocols: ["h2"],
      ...client,
    });
    s.once("secureConnect", () => {
      resolve({ cipher: s.getCipher().name, protocol: s.getProtocol() });
      s.destroy();
    });
    s.once("error", reject);
  });
}

describe("the agent's TLS listener and GRPC_SSL_CIPHER_SUITES", () => {
  it("refuses a client limited to another suite", async () => {
    const port = await listen(ALLOWED);
    await expect(handshake(port, { ciphers: OTHER, maxVersion: "TLSv1.2" })).rejects.toThrow(
      /handshake failure/,
    );
  });

  it("accepts a client offering the listed suite", async () => {
    const port = await listen(ALLOWED);
    expect(await handshake(port, { ciphers: ALLOWED, maxVersion: "TLSv1.2" })).toEqual({
      cipher: ALLOWED,
      protocol: "TLSv1.2",
    });
  });

  it("a TLS 1.3 suite likewise", async () => {
    const port = await listen("TLS_AES_128_GCM_SHA256");
    await expect(handshake(port, { ciphers: "TLS_AES_256_GCM_SHA384" })).rejects.toThrow(/handshake failure/);
    expect(await handshake(port, {})).toEqual({ cipher: "TLS_AES_128_GCM_SHA256", protocol: "TLSv1.3" });
  });

  it("unset: Node's defaults (the client limited to the other suite gets in)", async () => {
    const port = await listen(undefined);
    expect(await handshake(port, { ciphers: OTHER, maxVersion: "TLSv1.2" })).toMatchObject({ cipher: OTHER });
  });
});
