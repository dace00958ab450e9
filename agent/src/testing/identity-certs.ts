import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
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
