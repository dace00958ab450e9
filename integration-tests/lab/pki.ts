// Per-robot keys: a CA, the agent's server certificate, the controller's client certificate, an
// unrelated "rogue" CA with its own client certificate, and a Nix signing key pair.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OPERATOR_CN, READER_CN } from "./access.js";
import type { TlsFiles } from "./config.js";
import { ensureCrl } from "./crl.js";
import { run } from "./proc.js";

export interface RobotKeys {
  ca: string;
  /** The CA's revocation list (crl.ts). */
  crl: string;
  agent: { certFile: string; keyFile: string };
  controller: TlsFiles;
  /** A client certificate of the robot's CA that the agent gives role `read` only. */
  reader: TlsFiles;
  rogue: TlsFiles;
  signingKey: string;
  publicKeyFile: string;
  publicKey: string;
}

interface Opts {
  signal?: AbortSignal;
}

const openssl = (args: string[], opts: Opts): Promise<unknown> =>
  run("openssl", args, { timeoutMs: 30_000, signal: opts.signal });

async function newKey(file: string, opts: Opts): Promise<void> {
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], opts);
}

/** A self-signed CA `base`.pem/.key in `dir`. */
export async function newCa(dir: string, base: string, subject: string, opts: Opts): Promise<void> {
  await newKey(join(dir, `${base}.key`), opts);
  // biome-ignore format: one flag per line pair reads better
  await openssl([
    "req", "-x509", "-new", "-key", join(dir, `${base}.key`), "-subj", subject, "-days", "3650",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-out", join(dir, `${base}.pem`),
  ], opts);
}

/** A certificate `base`.pem/.key with CN `cn` and extensions `ext`, signed by CA `ca` in `dir`. */
export async function issue(
  dir: string,
  ca: string,
  base: string,
  cn: string,
  ext: string,
  opts: Opts,
): Promise<void> {
  const key = join(dir, `${base}.key`);
  const csr = join(dir, `${base}.csr`);
  const extFile = join(dir, `${base}.ext`);
  await newKey(key, opts);
  await openssl(["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-out", csr], opts);
  writeFileSync(extFile, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${ext}\n`);
  // biome-ignore format: one flag per line pair reads better
  await openssl([
    "x509", "-req", "-in", csr, "-CA", join(dir, `${ca}.pem`), "-CAkey", join(dir, `${ca}.key`),
    "-set_serial", `0x${Date.now().toString(16)}${base.length}`, "-days", "825", "-extfile", extFile,
    "-out", join(dir, `${base}.pem`),
  ], opts);
}

/** Creates the robot's keys in `dir` unless they exist already (kept across `up`s). */
export async function ensureKeys(
  dir: string,
  name: string,
  robotIp: string,
  opts: Opts = {},
): Promise<RobotKeys> {
  const keys: RobotKeys = {
    ca: join(dir, "ca.pem"),
    crl: join(dir, "crl.pem"),
    agent: { certFile: join(dir, "agent.pem"), keyFile: join(dir, "agent.key") },
    controller: {
      caFile: join(dir, "ca.pem"),
      certFile: join(dir, "controller.pem"),
      keyFile: join(dir, "controller.key"),
    },
    reader: {
      caFile: join(dir, "ca.pem"),
      certFile: join(dir, "reader.pem"),
      keyFile: join(dir, "reader.key"),
    },
    rogue: {
      caFile: join(dir, "rogue-ca.pem"),
      certFile: join(dir, "rogue.pem"),
      keyFile: join(dir, "rogue.key"),
    },
    signingKey: join(dir, "nix-signing.key"),
    publicKeyFile: join(dir, "nix-signing.pub"),
    publicKey: "",
  };
  const done = join(dir, "complete");
  if (!existsSync(done)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await newCa(dir, "ca", `/CN=ros-rollback lab CA ${name}`, opts);
    const san = `subjectAltName=IP:${robotIp},DNS:${name},DNS:localhost,IP:127.0.0.1`;
    await issue(dir, "ca", "agent", name, `extendedKeyUsage=serverAuth\n${san}`, opts);
    await issue(dir, "ca", "controller", OPERATOR_CN, "extendedKeyUsage=clientAuth", opts);
    await newCa(dir, "rogue-ca", `/CN=rogue CA ${name}`, opts);
    await issue(dir, "rogue-ca", "rogue", OPERATOR_CN, "extendedKeyUsage=clientAuth", opts);
    await run(
      "nix-store",
      ["--generate-binary-cache-key", `lab-${name}-1`, keys.signingKey, keys.publicKeyFile],
      {
        timeoutMs: 30_000,
        signal: opts.signal,
        env: { ...process.env, NIX_CONFIG: "build-users-group =" },
      },
    );
    writeFileSync(done, "");
  }
  // Keys made before the read-only certificate existed get it now.
  if (!existsSync(keys.reader.certFile)) {
    await issue(dir, "ca", "reader", READER_CN, "extendedKeyUsage=clientAuth", opts);
  }
  await ensureCrl(dir, opts);
  keys.publicKey = readFileSync(keys.publicKeyFile, "utf8").trim();
  return keys;
}

export interface SigningKey {
  signingKey: string;
  publicKey: string;
}

/**
 * The lab's fleet signing key pair in `dir`, made once: every robot trusts it besides its own, so
 * one `--sign-key` serves a rollout to many robots. Made in a scratch directory and renamed into
 * place, so concurrent `up`s agree on one key.
 */
export async function ensureFleetKey(dir: string, opts: Opts = {}): Promise<SigningKey> {
  const key = { signingKey: join(dir, "nix-signing.key"), publicKeyFile: join(dir, "nix-signing.pub") };
  if (!existsSync(key.publicKeyFile)) {
    const scratch = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(scratch, { recursive: true, mode: 0o700 });
    try {
      await run(
        "nix-store",
        [
          "--generate-binary-cache-key",
          "lab-fleet-1",
          join(scratch, "nix-signing.key"),
          join(scratch, "nix-signing.pub"),
        ],
        {
          timeoutMs: 30_000,
          signal: opts.signal,
          env: { ...process.env, NIX_CONFIG: "build-users-group =" },
        },
      );
      try {
        renameSync(scratch, dir);
      } catch (e) {
        // Another `up` made it first (rename onto a non-empty directory fails): use theirs.
        if (!existsSync(key.publicKeyFile)) throw e;
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return { signingKey: key.signingKey, publicKey: readFileSync(key.publicKeyFile, "utf8").trim() };
}
