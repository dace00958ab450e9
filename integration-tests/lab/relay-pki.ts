// The lab relay's keys, made once for the lab (like the fleet key): a relay CA that signs the
// relay's server certificate and every NAT'd robot's certificate at the relay (CN = its name), and
// a controllers' CA whose operator and reader certificates the relay and the NAT'd robots accept.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { OPERATOR_CN, READER_CN } from "./access.js";
import { MAX_INDEX, type TlsFiles } from "./config.js";
import { ensureCrl } from "./crl.js";
import { issue, newCa } from "./pki.js";
import { RELAY_DIR } from "./relay-layout.js";

const PKI_DIR = join(RELAY_DIR, "pki");

export interface RelayPki {
  /** Signs the relay's server certificate and the robots' certificates (the relay's robotCaFile). */
  readonly relayCa: string;
  readonly server: { readonly certFile: string; readonly keyFile: string };
  /** The relay's controllerCaFile; a NAT'd robot's agent trusts it besides its own CA. */
  readonly controllersCa: string;
  /** The controllers' CA's CRL (nothing revoked): a NAT'd robot's agent needs one per CA it trusts. */
  readonly controllersCrl: string;
  /** CN `ros-rollback controller` (all roles at the lab's agents) and `ros-rollback reader` (read). */
  readonly operator: { readonly certFile: string; readonly keyFile: string };
  readonly reader: { readonly certFile: string; readonly keyFile: string };
}

const pair = (dir: string, base: string) => ({
  certFile: join(dir, `${base}.pem`),
  keyFile: join(dir, `${base}.key`),
});

function pkiIn(dir: string): RelayPki {
  return {
    relayCa: join(dir, "relay-ca.pem"),
    server: pair(dir, "relay"),
    controllersCa: join(dir, "controllers-ca.pem"),
    controllersCrl: join(dir, "controllers-ca-crl.pem"),
    operator: pair(dir, "controller"),
    reader: pair(dir, "reader"),
  };
}

/** Robot K dials the relay at its veth's host end, 10.231.K.1: the server certificate names them all. */
function serverSan(): string {
  const ips = Array.from({ length: MAX_INDEX }, (_, i) => `IP:10.231.${i + 1}.1`);
  return `subjectAltName=DNS:localhost,IP:127.0.0.1,${ips.join(",")}`;
}

/** Made in a scratch directory and renamed into place, so concurrent `up --nat`s agree on one set. */
export async function ensureRelayPki(opts: { signal?: AbortSignal } = {}): Promise<RelayPki> {
  const pki = pkiIn(PKI_DIR);
  if (existsSync(pki.reader.certFile)) {
    // Sets made before the agent checked a CRL per CA get theirs now.
    await ensureCrl(PKI_DIR, opts, "controllers-ca");
    return pki;
  }
  mkdirSync(RELAY_DIR, { recursive: true });
  const scratch = `${PKI_DIR}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(scratch, { mode: 0o700 });
  try {
    await newCa(scratch, "relay-ca", "/CN=ros-rollback lab relay CA", opts);
    await issue(
      scratch,
      "relay-ca",
      "relay",
      "ros-rollback lab relay",
      `extendedKeyUsage=serverAuth\n${serverSan()}`,
      opts,
    );
    await newCa(scratch, "controllers-ca", "/CN=ros-rollback lab controllers CA", opts);
    await issue(scratch, "controllers-ca", "controller", OPERATOR_CN, "extendedKeyUsage=clientAuth", opts);
    // Last: its presence means the set is complete.
    await ensureCrl(scratch, opts, "controllers-ca");
    await issue(scratch, "controllers-ca", "reader", READER_CN, "extendedKeyUsage=clientAuth", opts);
    try {
      renameSync(scratch, PKI_DIR);
    } catch (e) {
      // Another `up` made it first (rename onto a non-empty directory fails): use theirs.
      if (!existsSync(pki.reader.certFile)) throw e;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return pki;
}

/** The robot's certificate at the relay (CN = its name), kept in its own pki dir; issued once. */
export async function ensureRelayRobotCert(
  robotPki: string,
  name: string,
  opts: { signal?: AbortSignal } = {},
): Promise<TlsFiles> {
  const relay = await ensureRelayPki(opts);
  const files = { caFile: relay.relayCa, ...pair(robotPki, "relay-robot") };
  if (!existsSync(files.certFile)) {
    // issue() wants the CA beside the new key: sign in the relay's pki dir, then move the pair.
    const base = `robot-${name}-${process.pid}`;
    await issue(PKI_DIR, "relay-ca", base, name, "extendedKeyUsage=clientAuth", opts);
    renameSync(join(PKI_DIR, `${base}.key`), files.keyFile);
    renameSync(join(PKI_DIR, `${base}.pem`), files.certFile);
    for (const ext of ["csr", "ext"]) rmSync(join(PKI_DIR, `${base}.${ext}`), { force: true });
  }
  return files;
}
