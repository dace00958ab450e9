import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestPki {
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Another client of the same CA (another identity: push slots are per certificate). */
  readonly client2Cert: string;
  readonly client2Key: string;
  /** A client certificate from an unrelated CA. */
  readonly rogueCa: string;
  readonly rogueCert: string;
  readonly rogueKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function ca(dir: string, name: string): void {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      `${name}.key`,
      "-sha256",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-out",
      `${name}.pem`,
    ],
    dir,
  );
}

function leaf(dir: string, name: string, caName: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${name}`, "-out", `${name}.csr`], dir);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${caName}.pem`,
      "-CAkey",
      `${caName}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    ],
    dir,
  );
}

/** One more client certificate of `makeTestPki(dir)`'s CA: another identity (push slots are per certificate). */
export function issueClientCert(dir: string, name: string): { readonly cert: string; readonly key: string } {
  leaf(dir, name, "ca", "extendedKeyUsage=clientAuth\n");
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/**
 * A throwaway PKI for tests over real TLS sockets. The server certificate
 * names localhost and 127.0.0.1, plus any `extraServerNames` (DNS names).
 */
export function makeTestPki(dir: string, extraServerNames: readonly string[] = []): TestPki {
  mkdirSync(dir, { recursive: true });
  ca(dir, "ca");
  ca(dir, "rogue-ca");
  const san = ["DNS:localhost", "IP:127.0.0.1", ...extraServerNames.map((n) => `DNS:${n}`)].join(",");
  leaf(dir, "server", "ca", `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  leaf(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
  leaf(dir, "client2", "ca", "extendedKeyUsage=clientAuth\n");
  leaf(dir, "rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
  const f = (n: string) => join(dir, n);
  return {
    caFile: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
    client2Cert: f("client2.pem"),
    client2Key: f("client2.key"),
    rogueCa: f("rogue-ca.pem"),
    rogueCert: f("rogue.pem"),
    rogueKey: f("rogue.key"),
  };
}
