// The robot CA's revocation list (issue 29): the agent checks it at every handshake and reloads it
// when the file changes. `openssl ca` keeps the revoked serials in the robot's pki directory.
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./proc.js";

interface Opts {
  signal?: AbortSignal;
}

/** Where the agent reads the CRL, inside the robot. */
export const ROBOT_CRL = "/etc/ros-rollback/tls/crl.pem";

const conf = (dir: string) => join(dir, "crl.cnf");

function openssl(dir: string, args: string[], opts: Opts): Promise<unknown> {
  return run(
    "openssl",
    ["ca", "-config", conf(dir), "-keyfile", join(dir, "ca.key"), "-cert", join(dir, "ca.pem"), ...args],
    {
      timeoutMs: 30_000,
      signal: opts.signal,
    },
  );
}

/** A new crl.pem from the revocations so far, renamed into place. */
async function writeCrl(dir: string, opts: Opts): Promise<void> {
  const scratch = join(dir, `crl.pem.tmp-${process.pid}`);
  await openssl(dir, ["-gencrl", "-out", scratch], opts);
  renameSync(scratch, join(dir, "crl.pem"));
}

/** The CA's crl.pem in `dir` (nothing revoked), made once; keys made before it get it now. */
export async function ensureCrl(dir: string, opts: Opts = {}): Promise<string> {
  const crl = join(dir, "crl.pem");
  if (existsSync(crl)) return crl;
  // A CRL outlives the lab's keys (the agent refuses every client once its CRL has expired).
  writeFileSync(
    conf(dir),
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${join(dir, "crl-index.txt")}\ncrlnumber = ${join(dir, "crlnumber")}\ndefault_md = sha256\ndefault_crl_days = 3650\n`,
  );
  writeFileSync(join(dir, "crl-index.txt"), "");
  writeFileSync(join(dir, "crlnumber"), "01\n");
  await writeCrl(dir, opts);
  return crl;
}

/** Revokes `certFile` (a certificate of the CA in `dir`) and rewrites crl.pem. */
export async function revoke(dir: string, certFile: string, opts: Opts = {}): Promise<void> {
  await ensureCrl(dir, opts);
  await openssl(dir, ["-revoke", certFile], opts);
  await writeCrl(dir, opts);
}
