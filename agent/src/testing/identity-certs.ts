import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface IssuedCert {
  readonly cert: string;
  readonly key: string;
}

/**
 * A client certificate with any subject and extensions, signed by `caName`
 * (`ca` or `rogue-ca`) of a makeTestPki(dir): for access rules. `subject` is
 * openssl's `-subj` form (`/CN=alice/O=fleet`); `ext` an openssl extension
 * file (`subjectAltName=@alt` with an `[alt]` section for hostile values).
 */
export function issueIdentityCert(
  dir: string,
  name: string,
  subject: string,
  ext = "",
  caName = "ca",
): IssuedCert {
  const run = (args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  writeFileSync(join(dir, `${name}.ext`), `extendedKeyUsage=clientAuth\n${ext}`);
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`]);
  run(["req", "-new", "-utf8", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`]);
  run([
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
  ]);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
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
