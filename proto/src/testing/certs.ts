import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

export interface IssuedCert {
  readonly cert: string;
  readonly key: string;
}

/** A self-signed CA `name` in `dir` (name.pem, name.key); returns the certificate's path. */
export function makeCa(dir: string, name: string): string {
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  // biome-ignore format: one flag per line pair reads better
  openssl([
    "req", "-x509", "-new", "-key", `${name}.key`, "-sha256", "-days", "2",
    "-subj", `/CN=${name}`, "-out", `${name}.pem`,
  ], dir);
  return join(dir, `${name}.pem`);
}

/**
 * A certificate `name` (name.pem, name.key in `dir`) signed by the CA `caName` of the same
 * folder. `ext` is an openssl extension file (extendedKeyUsage, subjectAltName, …); `subject`
 * openssl's `-subj` form, UTF-8 allowed (`/CN=alice/O=fleet`).
 */
export function issueCert(
  dir: string,
  name: string,
  caName: string,
  ext: string,
  subject = `/CN=${name}`,
): IssuedCert {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(["req", "-new", "-utf8", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], dir);
  // biome-ignore format: one flag per line pair reads better
  openssl([
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${caName}.pem`, "-CAkey", `${caName}.key`,
    "-CAcreateserial", "-days", "2", "-sha256", "-extfile", `${name}.ext`, "-out", `${name}.pem`,
  ], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/**
 * A client certificate with any subject and extensions, signed by `caName`
 * (`ca` or `rogue-ca`) of a makeTestPki(dir): for access rules. `ext` adds to
 * extendedKeyUsage=clientAuth (`subjectAltName=@alt` with an `[alt]` section for hostile values).
 */
export function issueIdentityCert(
  dir: string,
  name: string,
  subject: string,
  ext = "",
  caName = "ca",
): IssuedCert {
  return issueCert(dir, name, caName, `extendedKeyUsage=clientAuth\n${ext}`, subject);
}

/** One more client certificate of `makeTestPki(dir)`'s CA: another identity (push slots are per certificate). */
export function issueClientCert(dir: string, name: string): IssuedCert {
  return issueCert(dir, name, "ca", "extendedKeyUsage=clientAuth\n");
}

/**
 * A throwaway PKI for tests over real TLS sockets. The server certificate
 * names localhost and 127.0.0.1, plus any `extraServerNames` (DNS names).
 */
export function makeTestPki(dir: string, extraServerNames: readonly string[] = []): TestPki {
  mkdirSync(dir, { recursive: true });
  makeCa(dir, "ca");
  makeCa(dir, "rogue-ca");
  const san = ["DNS:localhost", "IP:127.0.0.1", ...extraServerNames.map((n) => `DNS:${n}`)].join(",");
  issueCert(dir, "server", "ca", `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  issueCert(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
  issueCert(dir, "client2", "ca", "extendedKeyUsage=clientAuth\n");
  issueCert(dir, "rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
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

/**
 * A client certificate (CN=`cn`, clientAuth) of the test CA valid only from `start` to `end`
 * (openssl's YYYYMMDDHHMMSSZ): an expired or a not-yet-valid one.
 */
export function issueDatedCert(
  dir: string,
  name: string,
  cn: string,
  start: string,
  end: string,
): IssuedCert {
  const run = (args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  writeFileSync(
    join(dir, `${name}.cnf`),
    "[ca]\ndefault_ca = d\n[d]\ndatabase = dated-index.txt\nnew_certs_dir = .\nserial = dated-serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n",
  );
  writeFileSync(join(dir, "dated-index.txt"), "");
  writeFileSync(join(dir, "dated-serial"), `${Date.now().toString(16).padStart(12, "0")}\n`);
  writeFileSync(join(dir, `${name}.ext`), "extendedKeyUsage=clientAuth\n");
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`]);
  run(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`]);
  // biome-ignore format: one flag per line pair reads better
  run([
    "ca", "-batch", "-notext", "-config", `${name}.cnf`, "-cert", "ca.pem", "-keyfile", "ca.key",
    "-in", `${name}.csr`, "-startdate", start, "-enddate", end, "-extfile", `${name}.ext`, "-out", `${name}.pem`,
  ]);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/**
 * A certificate (CN=`cn`) signed by the leaf `signer` (not a CA), as a chain file: the new
 * certificate, then the signer's, as a client would send both.
 */
export function issueUnderLeaf(dir: string, name: string, cn: string, signer: IssuedCert): IssuedCert {
  const run = (args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  writeFileSync(join(dir, `${name}.ext`), "extendedKeyUsage=clientAuth\n");
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`]);
  run(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`]);
  // biome-ignore format: one flag per line pair reads better
  run([
    "x509", "-req", "-in", `${name}.csr`, "-CA", signer.cert, "-CAkey", signer.key, "-CAcreateserial",
    "-days", "2", "-sha256", "-extfile", `${name}.ext`, "-out", `${name}.pem`,
  ]);
  writeFileSync(
    join(dir, `${name}-chain.pem`),
    Buffer.concat([readFileSync(join(dir, `${name}.pem`)), readFileSync(signer.cert)]),
  );
  return { cert: join(dir, `${name}-chain.pem`), key: join(dir, `${name}.key`) };
}
