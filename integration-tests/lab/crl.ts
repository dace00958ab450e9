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

/** A CA's files in its directory: `ca` (the robot CA) as crl.pem…, any other CA `NAME-crl.pem`…. */
const file = (dir: string, ca: string, base: string) => join(dir, ca === "ca" ? base : `${ca}-${base}`);
const conf = (dir: string, ca: string) => file(dir, ca, "crl.cnf");

function openssl(dir: string, args: string[], opts: Opts, ca = "ca"): Promise<unknown> {
  return run(
    "openssl",
    [
      "ca",
      "-config",
      conf(dir, ca),
      "-keyfile",
      join(dir, `${ca}.key`),
      "-cert",
      join(dir, `${ca}.pem`),
      ...args,
    ],
    {
      timeoutMs: 30_000,
      signal: opts.signal,
    },
  );
}

/** A new crl.pem from the revocations so far, renamed into place. */
async function writeCrl(dir: string, opts: Opts, ca = "ca"): Promise<void> {
  const scratch = `${file(dir, ca, "crl.pem")}.tmp-${process.pid}`;
  await openssl(dir, ["-gencrl", "-out", scratch], opts, ca);
  renameSync(scratch, file(dir, ca, "crl.pem"));
}

/**
 * The CRL (nothing revoked) of the CA `ca` (`ca.pem` and `ca.key` in `dir`), made once; keys made
 * before it get it now. The agent checks every CA of a client's chain against a CRL, so each CA it
 * trusts needs one (the lab controllers' CA too, for NAT'd robots).
 */
export async function ensureCrl(dir: string, opts: Opts = {}, ca = "ca"): Promise<string> {
  const crl = file(dir, ca, "crl.pem");
  if (existsSync(crl)) return crl;
  // A CRL outlives the lab's keys (the agent refuses every client once its CRL has expired).
  writeFileSync(
    conf(dir, ca),
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${file(dir, ca, "crl-index.txt")}\ncrlnumber = ${file(dir, ca, "crlnumber")}\ndefault_md = sha256\ndefault_crl_days = 3650\n`,
  );
  writeFileSync(file(dir, ca, "crl-index.txt"), "");
  writeFileSync(file(dir, ca, "crlnumber"), "01\n");
  await writeCrl(dir, opts, ca);
  return crl;
}

/** Revokes `certFile` (a certificate of the CA in `dir`) and rewrites crl.pem. */
export async function revoke(dir: string, certFile: string, opts: Opts = {}): Promise<void> {
  await ensureCrl(dir, opts);
  await openssl(dir, ["-revoke", certFile], opts);
  await writeCrl(dir, opts);
}
