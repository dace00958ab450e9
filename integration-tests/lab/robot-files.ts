// What a lab robot gets before it boots: its index K (its addresses) and the files written into its root.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  AGENT_CONFIG,
  AGENT_HOLD_DIR,
  AGENT_UNIT,
  addressFor,
  agentConfig,
  agentUnit,
  HOLD_GROUP,
  HOLD_TMPFILES,
  holdDirRule,
  LAB_BOOT_UNIT,
  type LabHoldCondition,
  labBootUnit,
  MAX_INDEX,
  METRICS_PORT,
  type RobotPaths,
  robotPaths,
  STATE_DIR,
  withGroup,
} from "./config.js";
import type { RobotKeys } from "./pki.js";
import { LabError } from "./proc.js";

export const INDEX_DIR = join(STATE_DIR, "index");

export function readIndex(paths: Pick<RobotPaths, "indexFile">): number | undefined {
  if (!existsSync(paths.indexFile)) return undefined;
  return Number(readFileSync(paths.indexFile, "utf8").trim());
}

/** Where robots claim their index K; tests pass their own. */
export interface IndexClaims {
  dir: string;
  pathsOf: (name: string) => Pick<RobotPaths, "dir" | "indexFile">;
}

const LAB_CLAIMS: IndexClaims = { dir: INDEX_DIR, pathsOf: robotPaths };

/** Claims the lowest free K in STATE_DIR/index (exclusive create, so concurrent ups don't collide). */
export function allocateIndex(
  name: string,
  paths: Pick<RobotPaths, "dir" | "indexFile">,
  claims: IndexClaims = LAB_CLAIMS,
): number {
  const existing = readIndex(paths);
  if (existing !== undefined) return existing;
  mkdirSync(claims.dir, { recursive: true });
  mkdirSync(paths.dir, { recursive: true });
  for (let k = 1; k <= MAX_INDEX; k++) {
    const claim = join(claims.dir, String(k));
    try {
      writeFileSync(claim, name, { flag: "wx" });
    } catch {
      const owner = readFileSync(claim, "utf8").trim();
      if (owner === "") continue; // being written by another \`up\`
      // Stale once its owner's directory is gone too: the owner makes it before claiming, and
      // writes its index file only after, so a missing index file alone may be an \`up\` under way.
      const ownerPaths = claims.pathsOf(owner);
      if (owner !== name && (existsSync(ownerPaths.indexFile) || existsSync(ownerPaths.dir))) continue;
      writeFileSync(claim, name);
    }
    writeFileSync(paths.indexFile, `${k}\n`);
    return k;
  }
  throw new LabError(`no free robot index (all ${MAX_INDEX} taken under ${claims.dir})`);
}

export function writeFile(file: string, text: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** Files the robot needs before it boots: host name, bind-mount targets, the agent's config, keys and unit. */
export function writeRobotFiles(
  name: string,
  root: string,
  keys: RobotKeys,
  fleetKey: string,
  agent: boolean,
  index: number,
  cache?: { url: string; publicKey: string },
  holdConditions?: readonly LabHoldCondition[],
  dialOut?: readonly Record<string, string>[],
): void {
  writeFile(join(root, "etc/hostname"), `${name}\n`);
  // The hold dir as the NixOS module makes it: tmpfiles (outlives agent restarts), the hold group.
  const group = join(root, "etc/group");
  writeFile(group, withGroup(readFileSync(group, "utf8"), HOLD_GROUP));
  writeFile(join(root, HOLD_TMPFILES), `${holdDirRule(AGENT_HOLD_DIR, HOLD_GROUP)}\n`);
  mkdirSync(join(root, "opt/ros-rollback/app"), { recursive: true });
  writeFile(join(root, "opt/ros-rollback/node"), "", 0o755);
  writeFile(
    join(root, AGENT_CONFIG),
    agentConfig(
      [keys.publicKey, fleetKey],
      `${addressFor(index).robot}:${METRICS_PORT}`,
      cache,
      holdConditions,
      dialOut,
    ),
  );
  const tls = join(root, "etc/ros-rollback/tls");
  writeFile(join(tls, "ca.pem"), readFileSync(keys.ca));
  writeFile(join(tls, "agent.pem"), readFileSync(keys.agent.certFile));
  writeFile(join(tls, "agent.key"), readFileSync(keys.agent.keyFile), 0o600);
  writeFile(join(tls, "crl.pem"), readFileSync(keys.crl));
  installUnit(root, LAB_BOOT_UNIT, labBootUnit());
  installUnit(root, AGENT_UNIT, agent ? agentUnit() : undefined);
}

/** Writes and enables a unit in the robot's /etc (or removes it when text is undefined). */
export function installUnit(root: string, unit: string, text: string | undefined): void {
  const file = join(root, "etc/systemd/system", unit);
  const wants = join(root, "etc/systemd/system/multi-user.target.wants", unit);
  rmSync(wants, { force: true });
  if (text === undefined) {
    rmSync(file, { force: true });
    return;
  }
  writeFile(file, text);
  symlinkSync(`../${unit}`, wants);
}
