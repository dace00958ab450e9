// sshd in a lab robot (`up --ssh`): root logs in with the lab's own key, each robot has its own
// host key, pinned in a known_hosts file on the host. For baselines that need ssh (`nix copy
// --to ssh://`, export | ssh | import); the agent does not use it.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { type LabSsh, type RobotPaths, STATE_DIR } from "./config.js";
import { run } from "./proc.js";

/** The lab's ssh client key pair (made once, like the fleet key): root on every --ssh robot accepts it. */
export const SSH_KEY_DIR = join(STATE_DIR, "ssh-key");
/** Debian's ssh.service, enabled per robot (the rootfs leaves it disabled). */
export const SSH_UNIT = "ssh.service";

interface Opts {
  signal?: AbortSignal;
}

const keygen = (args: string[], opts: Opts) =>
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", ...args], { timeoutMs: 30_000, signal: opts.signal });

/** The lab's client key (`id_ed25519` in SSH_KEY_DIR), made in a scratch dir and renamed so concurrent ups agree. */
export async function ensureLabSshKey(dir = SSH_KEY_DIR, opts: Opts = {}): Promise<{ identityFile: string }> {
  const identityFile = join(dir, "id_ed25519");
  if (!existsSync(`${identityFile}.pub`)) {
    const scratch = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(scratch, { recursive: true, mode: 0o700 });
    try {
      await keygen(["-C", "ros-rollback-lab", "-f", join(scratch, "id_ed25519")], opts);
      try {
        renameSync(scratch, dir);
      } catch (e) {
        if (!existsSync(`${identityFile}.pub`)) throw e;
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return { identityFile };
}

/** The robot's host key in its pki directory (removed with the robot by `down`). */
export async function ensureHostKey(pkiDir: string, name: string, opts: Opts = {}): Promise<string> {
  const file = join(pkiDir, "ssh_host_ed25519_key");
  if (!existsSync(`${file}.pub`)) {
    mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
    rmSync(file, { force: true });
    await keygen(["-C", `root@${name}`, "-f", file], opts);
  }
  return file;
}

/** One known_hosts line: the robot's host key under its name and its address. */
export function knownHostsLine(name: string, ip: string, hostPublicKey: string): string {
  const [type, key] = hostPublicKey.trim().split(/\s+/);
  return `${name},${ip} ${type} ${key}\n`;
}

export function sshOptions(name: string, identityFile: string, knownHosts: string): string[] {
  // biome-ignore format: option pairs
  return [
    "-i", identityFile, "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "StrictHostKeyChecking=yes", "-o", `HostKeyAlias=${name}`, "-o", "BatchMode=yes",
  ];
}

export function labSsh(name: string, ip: string, identityFile: string, knownHosts: string): LabSsh {
  return {
    destination: `root@${ip}`,
    host: ip,
    port: 22,
    identityFile,
    knownHosts,
    options: sshOptions(name, identityFile, knownHosts),
  };
}

function writeFile(file: string, text: string | Buffer, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/**
 * Writes the robot's host key, root's authorized_keys and the unit's enable link into the robot's
 * root (enable = false removes the link: an `up` without --ssh boots without sshd).
 */
export function writeSshFiles(
  root: string,
  enable: boolean,
  keys?: { hostKey: string; clientPublicKey: string },
): void {
  const wants = join(root, "etc/systemd/system/multi-user.target.wants", SSH_UNIT);
  rmSync(wants, { force: true });
  if (!enable || keys === undefined) return;
  writeFile(join(root, "etc/ssh/ssh_host_ed25519_key"), readFileSync(keys.hostKey), 0o600);
  writeFile(join(root, "etc/ssh/ssh_host_ed25519_key.pub"), readFileSync(`${keys.hostKey}.pub`), 0o644);
  // Only the key written here, and no login by password.
  writeFile(
    join(root, "etc/ssh/sshd_config.d/lab.conf"),
    "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n",
    0o644,
  );
  writeFile(join(root, "root/.ssh/authorized_keys"), keys.clientPublicKey, 0o600);
  mkdirSync(dirname(wants), { recursive: true });
  // Debian installs the unit in /lib/systemd/system: the link resolves inside the robot.
  symlinkSync(`/lib/systemd/system/${SSH_UNIT}`, wants);
}

/** How to log into the robot, if it was booted with sshd. */
export function robotSsh(name: string, paths: RobotPaths, ip: string): LabSsh | undefined {
  if (!existsSync(paths.knownHosts)) return undefined;
  return labSsh(name, ip, join(SSH_KEY_DIR, "id_ed25519"), paths.knownHosts);
}

/** The robot's sshd files (or their absence without --ssh), and the host's known_hosts for it. */
export async function setUpSsh(
  name: string,
  paths: RobotPaths,
  ip: string,
  enable: boolean,
  opts: Opts = {},
): Promise<void> {
  if (!enable) {
    writeSshFiles(paths.root, false);
    rmSync(paths.knownHosts, { force: true });
    return;
  }
  const { identityFile } = await ensureLabSshKey(SSH_KEY_DIR, opts);
  const hostKey = await ensureHostKey(paths.pki, name, opts);
  writeSshFiles(paths.root, true, { hostKey, clientPublicKey: readFileSync(`${identityFile}.pub`, "utf8") });
  writeFileSync(paths.knownHosts, knownHostsLine(name, ip, readFileSync(`${hostKey}.pub`, "utf8")));
}
