// Pure description of a lab robot: names, paths, addresses and the files written for it.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LAB_ACCESS } from "./access.js";
import { ROBOT_CRL } from "./crl.js";
import { LabError } from "./proc.js";

/** Cached root filesystems (one per package list and build-script version). */
export const CACHE_DIR = "/var/cache/ros-rollback-lab";
/** Per-robot state: overlay upper/work, keys, logs. */
export const STATE_DIR = "/var/lib/ros-rollback-lab";
export const LAB_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(LAB_DIR, "../..");
export const AGENT_PORT = 50051;
/** The agent's Prometheus endpoint; in the lab it listens on the robot's own address so the host can scrape it. */
export const METRICS_PORT = 9464;
/** Inside the robot. */
export const APP_DIR = "/opt/ros-rollback/app";
export const NODE_BIN = "/opt/ros-rollback/node";
export const AGENT_CONFIG = "/etc/ros-rollback/agent.json";
export const AGENT_UNIT = "ros-rollback-agent.service";
export const ROBOT_IFACE = "eth0";
export const ROBOT_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  NIX_CONFIG: "build-users-group =",
  ROS_MASTER_URI: "http://127.0.0.1:11311",
  ROS_IP: "127.0.0.1",
  ROS_HOME: "/var/lib/ros",
  HOME: "/root",
} as const;

/** Robot names become host names, netns names and TLS names: keep them short and plain. */
export function validateName(name: string): string {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) {
    throw new LabError(`bad robot name "${name}": use 1-31 of a-z, 0-9 and -, starting with a letter`);
  }
  return name;
}

export const MAX_INDEX = 250;

/** The lab's fleet signing key (trusted by every robot) and the inventories `lab inventory` writes. */
export const FLEET_KEY_DIR = join(STATE_DIR, "fleet-key");
export const INVENTORY_DIR = join(STATE_DIR, "inventories");

/** Robot K lives on 10.231.K.0/24: the host end is .1, the robot .2. */
export function addressFor(index: number): { host: string; robot: string; prefix: 24 } {
  if (!Number.isInteger(index) || index < 1 || index > MAX_INDEX) {
    throw new LabError(`robot index ${index} out of range 1..${MAX_INDEX}`);
  }
  return { host: `10.231.${index}.1`, robot: `10.231.${index}.2`, prefix: 24 };
}

export const netnsName = (name: string): string => `rrl-${name}`;
/** Interface names are limited to 15 characters: derive them from the index, not the name. */
export const hostIface = (index: number): string => `rrl${index}h`;
export const peerIface = (index: number): string => `rrl${index}r`;

export interface RobotPaths {
  dir: string;
  upper: string;
  work: string;
  root: string;
  log: string;
  pidFile: string;
  indexFile: string;
  pki: string;
  inventory: string;
  /** The same target with the read-only certificate. */
  readOnlyInventory: string;
  /** The robot's host key for ssh (only when up with --ssh). */
  knownHosts: string;
}

export function robotPaths(name: string): RobotPaths {
  const dir = join(STATE_DIR, "robots", validateName(name));
  return {
    dir,
    upper: join(dir, "upper"),
    work: join(dir, "work"),
    root: join(dir, "root"),
    log: join(dir, "console.log"),
    pidFile: join(dir, "nspawn.pid"),
    indexFile: join(dir, "index"),
    pki: join(dir, "pki"),
    inventory: join(dir, "inventory.json"),
    readOnlyInventory: join(dir, "inventory-read-only.json"),
    knownHosts: join(dir, "known_hosts"),
  };
}

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** How the host logs into the robot as root, for `ssh`, `scp` or Nix's NIX_SSHOPTS. */
export interface LabSsh {
  /** `root@10.231.K.2`. */
  destination: string;
  host: string;
  port: number;
  identityFile: string;
  knownHosts: string;
  /**
   * Options for the ssh command line, without the port: the lab key, the robot's pinned host key
   * (under the robot's name, so a forwarded port at another address is checked against it too),
   * no prompts. Cipher, MAC and compression stay ssh's defaults.
   */
  options: string[];
}

/** What `up` prints (one JSON line) and returns. */
export interface LabRobot {
  name: string;
  /** The inventory's target name (= name). */
  target: string;
  /** Path of an inventory file the controller can use as-is. */
  inventory: string;
  /** The same with a client certificate that has role `read` only (status, generations, audit). */
  readOnlyInventory: string;
  /** host:port of the agent. */
  address: string;
  /** Path of the Nix secret key that signs closures for this robot. */
  signingKey: string;
  /** The matching public key, as written in the agent's trustedPublicKeys. */
  publicKey: string;
  /** A client certificate from an unrelated CA: the agent must reject it. */
  rogue: TlsFiles;
  rootDir: string;
  /** Host PID of the robot's init (for nsenter -t PID -a). */
  pid: number;
  /** URL of the agent's Prometheus metrics, reachable from the host. */
  metrics: string;
  /** Present when the robot was booted with sshd (`up --ssh`). */
  ssh?: LabSsh;
  /** Present when the robot is behind NAT (`up --nat`): its inventories route through the lab relay. */
  relay?: LabRobotRelay;
}

/** How a NAT'd robot is reached: the inventory's `relay`, `relayName` and `relayCaFile`. */
export interface LabRobotRelay {
  /** The relay's controller port. */
  address: string;
  /** The robot's name at the relay (its certificate's CN). */
  name: string;
  /** The relay's CA. */
  caFile: string;
}

/** The file whose presence silences the talker of the `flag-*` fixture systems (see systems/default.nix). */
export const FAIL_FLAG = "/var/lib/ros-rollback-lab-fail";

/** Where robot software drops hold files (the agent's default `holds.dir`), and who may write there. */
export const AGENT_HOLD_DIR = "/run/ros-rollback/holds";
export const HOLD_GROUP = "ros-rollback-hold";
/** In the robot: systemd-tmpfiles makes the hold dir at boot, as the NixOS module does. */
export const HOLD_TMPFILES = "/etc/tmpfiles.d/ros-rollback-holds.conf";

/** The NixOS module's line (nix-module/agent-config.nix `holdDirRule`; a test keeps them equal). */
export function holdDirRule(dir: string, group: string): string {
  return `d ${dir} 1770 root ${group} - -`;
}

/** /etc/group with `name` added (a free system gid, counting down from 989) unless it is there. */
export function withGroup(groupFile: string, name: string): string {
  const lines = groupFile.split("\n").filter((l) => l !== "");
  if (lines.some((l) => l.split(":")[0] === name)) return groupFile;
  const used = new Set(lines.map((l) => Number(l.split(":")[2])));
  let gid = 989;
  while (used.has(gid)) gid--;
  return `${[...lines, `${name}:x:${gid}:`].join("\n")}\n`;
}

/** A hold condition of the agent config (agent/src/holds/conditions.ts). */
export type LabHoldCondition =
  | { kind: "unit"; unit: string; reason?: string }
  | { kind: "topic"; topic: string; releasedWhen: string[]; reason?: string };

/** `trustedPublicKeys`: the robot's own key and the lab's fleet key (one key signs for a whole fleet). */
/** `cache`: a robot booted with --cache substitutes from the lab cache and trusts its key too. */
/** `holdConditions`: only for robots booted with them (a topic nobody publishes holds for good). */
/** `dialOut`: only for robots behind NAT (`up --nat`), the lab relay. */
export function agentConfig(
  trustedPublicKeys: readonly string[],
  metricsListen?: string,
  cache?: { url: string; publicKey: string },
  holdConditions?: readonly LabHoldCondition[],
  dialOut?: readonly Record<string, string>[],
): string {
  const config = {
    listen: `0.0.0.0:${AGENT_PORT}`,
    tls: {
      caFile: "/etc/ros-rollback/tls/ca.pem",
      certFile: "/etc/ros-rollback/tls/agent.pem",
      keyFile: "/etc/ros-rollback/tls/agent.key",
      crlFile: ROBOT_CRL,
    },
    access: LAB_ACCESS,
    trustedPublicKeys: cache === undefined ? [...trustedPublicKeys] : [...trustedPublicKeys, cache.publicKey],
    ...(cache === undefined ? {} : { substituters: [cache.url] }),
    profile: "/nix/var/nix/profiles/system",
    stateDir: "/var/lib/ros-rollback",
    confirmTimeoutSeconds: 20,
    // Short windows keep the lab quick; a real robot wants longer ones (the defaults).
    health: {
      settleSeconds: 2,
      stableSeconds: 4,
      timeoutSeconds: 20,
      intervalSeconds: 1,
      checkTimeoutSeconds: 5,
      systemd: {
        units: [{ name: "roscore.service" }, { name: "talker.service" }, { name: "listener.service" }],
      },
      ros: {
        masterUri: "http://127.0.0.1:11311",
        masterTimeoutSeconds: 2,
        rateWindowSeconds: 3,
        topics: [{ name: "/chatter", maxSilenceSeconds: 3, minRateHz: 2 }],
      },
    },
    ...(metricsListen === undefined ? {} : { metrics: { listen: metricsListen } }),
    ...(holdConditions === undefined || holdConditions.length === 0
      ? {}
      : { holds: { dir: AGENT_HOLD_DIR, conditions: holdConditions } }),
    ...(dialOut === undefined ? {} : { dialOut }),
  };
  return `${JSON.stringify(config)}\n`;
}

export function inventory(name: string, address: string, controller: TlsFiles): string {
  const target = { address, ...controller, serverName: name };
  return `${JSON.stringify({ targets: { [name]: target } }, null, 2)}\n`;
}

/** V8 flags of the agent: the NixOS module's (nix-module/agent.nix, NODE_OPTIONS, where the reason is). */
export const AGENT_NODE_OPTIONS = "--max-semi-space-size=1";
export const AGENT_MALLOC_ARENA_MAX = "2";

export function agentUnit(): string {
  return `[Unit]
Description=ros-rollback agent
# After the lab's "bootloader" has activated the profile's system, as on NixOS.
After=network.target ${LAB_BOOT_UNIT}
StartLimitIntervalSec=0

[Service]
# The agent sends READY=1 and watchdog pings through systemd-notify --pid (see agent/src/logging).
# 30 s: a scenario stops the robot's PID 1 for up to ~15 s; pings sent meanwhile wait in the socket.
Type=notify
WatchdogSec=30
Environment="NIX_CONFIG=build-users-group ="
Environment=PATH=${ROBOT_ENV.PATH}
Environment=ROS_MASTER_URI=${ROBOT_ENV.ROS_MASTER_URI}
Environment=ROS_IP=${ROBOT_ENV.ROS_IP}
Environment=NODE_OPTIONS=${AGENT_NODE_OPTIONS}
Environment=MALLOC_ARENA_MAX=${AGENT_MALLOC_ARENA_MAX}
ExecStart=${NODE_BIN} ${APP_DIR}/agent/dist/main.js --config ${AGENT_CONFIG}
Restart=always
RestartSec=1
# 78: a config or state the operator must fix (see README "Exit codes"); restarting cannot help.
RestartPreventExitStatus=78

[Install]
WantedBy=multi-user.target
`;
}

export const LAB_BOOT_UNIT = "lab-boot.service";

/**
 * The lab's "bootloader": at boot, activate the system the loader booted (`lab.system=` on a VM's
 * kernel command line, systems/loader.sh), else the profile's current one, as NixOS boots its newest
 * generation. `$$` is systemd's escape for `$`.
 */
export function labBootUnit(): string {
  return `[Unit]
Description=Activate the system profile's current generation (lab bootloader)
ConditionPathExists=/nix/var/nix/profiles/system/bin/switch-to-configuration
After=local-fs.target
Before=multi-user.target

[Service]
Type=oneshot
RemainAfterExit=yes
Environment="NIX_CONFIG=build-users-group ="
ExecStart=/bin/sh -c 's=/nix/var/nix/profiles/system; for a in $$(cat /proc/cmdline); do case $$a in lab.system=/nix/store/*) [ -x "$\${a#lab.system=}/bin/switch-to-configuration" ] && s=$\${a#lab.system=};; esac; done; exec "$$s/bin/switch-to-configuration" test'

[Install]
WantedBy=multi-user.target
`;
}
