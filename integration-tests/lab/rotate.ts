// Rotating the operator's certificate on a running robot (issue 29): a new controller certificate
// (same CA, same CN, new key) goes where the inventory points; the old one is revoked and the new
// CRL is put where the running agent reads it (it reloads without a restart).
import { copyFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OPERATOR_CN } from "./access.js";
import { robotPaths, type TlsFiles } from "./config.js";
import { ROBOT_CRL, revoke } from "./crl.js";
import { isNat } from "./nat.js";
import { issue } from "./pki.js";
import { ensureRelayPki } from "./relay-pki.js";

interface Opts {
  signal?: AbortSignal;
}

/** The rotated-out certificate (revoked now), kept under a new name for tests to try. */
export interface Rotation {
  readonly old: TlsFiles;
}

export async function labRotateController(name: string, opts: Opts = {}): Promise<Rotation> {
  const paths = robotPaths(name);
  const dir = paths.pki;
  const stamp = Date.now().toString(36);
  const old: TlsFiles = {
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, `controller-revoked-${stamp}.pem`),
    keyFile: join(dir, `controller-revoked-${stamp}.key`),
  };
  copyFileSync(join(dir, "controller.pem"), old.certFile);
  copyFileSync(join(dir, "controller.key"), old.keyFile);
  const next = `controller-${stamp}`;
  await issue(dir, "ca", next, OPERATOR_CN, "extendedKeyUsage=clientAuth", opts);
  // Key first: a controller starting in between reads a new key with the old certificate at worst.
  renameSync(join(dir, `${next}.key`), join(dir, "controller.key"));
  renameSync(join(dir, `${next}.pem`), join(dir, "controller.pem"));
  await revoke(dir, old.certFile, opts);
  const inRobot = join(paths.root, ROBOT_CRL);
  // A NAT'd robot also trusts the lab controllers' CA: its CRL stays beside the robot CA's.
  const extra = isNat(paths) ? [readFileSync((await ensureRelayPki(opts)).controllersCrl)] : [];
  writeFileSync(`${inRobot}.new`, Buffer.concat([readFileSync(join(dir, "crl.pem")), ...extra]));
  renameSync(`${inRobot}.new`, inRobot);
  return { old };
}
