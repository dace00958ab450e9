import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Throwaway PEM files for tests over real mutual-TLS sockets (made with the openssl CLI). */
export interface TestPki {
  readonly ca: string;
  /** Server certificate for DNS:localhost, IP:127.0.0.1 and DNS:robot1.test. */
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** An unrelated CA (and a client certificate it signed). */
  readonly otherCa: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", [...args], { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string): void {
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

function makeLeaf(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${name}`, "-out", `${name}.csr`], dir);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
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

export function makeTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  makeLeaf(
    dir,
    "server",
    "ca",
    "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:robot1.test\nextendedKeyUsage=serverAuth\n",
  );
  makeLeaf(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
  makeLeaf(dir, "other-client", "other-ca", "extendedKeyUsage=clientAuth\n");
  const f = (name: string) => join(dir, name);
  return {
    ca: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
    otherCa: f("other-ca.pem"),
    otherClientCert: f("other-client.pem"),
    otherClientKey: f("other-client.key"),
  };
}
