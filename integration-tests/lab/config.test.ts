import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileConfig } from "../../agent/src/config/load.js";
import { OPERATOR_CN, READER_CN } from "./access.js";
import { CACHE_PORT, nginxConf, robotCacheUrl } from "./cache.js";
import {
  AGENT_MALLOC_ARENA_MAX,
  AGENT_NODE_OPTIONS,
  addressFor,
  agentConfig,
  agentUnit,
  HOLD_GROUP,
  hostIface,
  inventory,
  labBootUnit,
  MAX_INDEX,
  netnsName,
  peerIface,
  robotPaths,
  validateName,
  withGroup,
} from "./config.js";
import { natDialOut } from "./nat.js";
import { LabError } from "./proc.js";
import { RELAY_ROBOT_PORT } from "./relay-layout.js";
import { ROOTFS_PACKAGES, rootfsKey } from "./rootfs.js";

describe("lab robot description", () => {
  it("enforces roles: the operator's certificate may do all, the read-only one read, a stranger nothing", () => {
    const key = "lab-r1-1:JqLbdGpdbXhQ9aUCB1BvAA5WSZDHS73LT+mqWMR6MIE=";
    const { access } = compileConfig(JSON.parse(agentConfig([key])));
    const id = (cn: string) => ({ fingerprint: "AB", cn: [cn], o: [], ou: [], uris: [] });
    expect(access.enforced).toBe(true);
    expect([...access.rolesOf(id(OPERATOR_CN))].sort()).toEqual(["deploy", "hold", "read"]);
    expect([...access.rolesOf(id(READER_CN))]).toEqual(["read"]);
    expect([...access.rolesOf(id("someone else"))]).toEqual([]);
  });

  it("puts robot K on 10.231.K.0/24, host .1 and robot .2", () => {
    expect(addressFor(7)).toEqual({ host: "10.231.7.1", robot: "10.231.7.2", prefix: 24 });
    expect(() => addressFor(0)).toThrow(LabError);
    expect(() => addressFor(MAX_INDEX + 1)).toThrow(LabError);
  });

  it("keeps interface names within Linux's 15 characters", () => {
    expect(hostIface(MAX_INDEX).length).toBeLessThanOrEqual(15);
    expect(peerIface(MAX_INDEX).length).toBeLessThanOrEqual(15);
    expect(netnsName("robot-1")).toBe("rrl-robot-1");
  });

  it("accepts plain host names only", () => {
    expect(validateName("robot-1")).toBe("robot-1");
    for (const bad of ["", "Robot", "1robot", "a/b", "../x", "a".repeat(32)]) {
      expect(() => validateName(bad)).toThrow(LabError);
    }
    expect(() => robotPaths("../etc")).toThrow(LabError);
    expect(robotPaths("r1").root).toBe("/var/lib/ros-rollback-lab/robots/r1/root");
  });

  it("a robot booted with --cache substitutes from the lab cache at its veth's host end and trusts its key", () => {
    const key = "lab-r1-1:JqLbdGpdbXhQ9aUCB1BvAA5WSZDHS73LT+mqWMR6MIE=";
    const cacheKey = "lab-cache-1:xAP96EFCHW9Wb+lxDwKx7ptpIseQpqedVU9eWXMQD2k=";
    const url = robotCacheUrl(7);
    expect(url).toBe(`http://10.231.7.1:${CACHE_PORT}`);
    const config = compileConfig(JSON.parse(agentConfig([key], undefined, { url, publicKey: cacheKey })));
    expect(config.substituters).toEqual([url]);
    expect(config.trustedPublicKeys).toEqual([key, cacheKey]);
    expect(compileConfig(JSON.parse(agentConfig([key]))).substituters).toEqual([]);
    expect(nginxConf()).toContain(`listen ${CACHE_PORT};`);
  });

  it("a robot booted with --nat dials out to the lab relay at its veth's host end, with its relay certificate", () => {
    const key = "lab-r1-1:JqLbdGpdbXhQ9aUCB1BvAA5WSZDHS73LT+mqWMR6MIE=";
    const config = compileConfig(
      JSON.parse(agentConfig([key], undefined, undefined, undefined, natDialOut(7))),
    );
    expect(config.dialOut).toEqual([
      {
        relay: `10.231.7.1:${RELAY_ROBOT_PORT}`,
        caFile: "/etc/ros-rollback/tls/relay-ca.pem",
        certFile: "/etc/ros-rollback/tls/relay-robot.pem",
        keyFile: "/etc/ros-rollback/tls/relay-robot.key",
      },
    ]);
    expect(compileConfig(JSON.parse(agentConfig([key]))).dialOut).toEqual([]);
  });

  it("writes the agent config the agent reads", () => {
    const key = "lab-r1-1:JqLbdGpdbXhQ9aUCB1BvAA5WSZDHS73LT+mqWMR6MIE=";
    // Validated by the agent's own schema, as the agent does at start.
    const fleet = "lab-fleet-1:6Pcgm5jyU8Hh6q2Ei6ayzd5uqVE/zVhaIFdPubbDBu4=";
    const config = compileConfig(JSON.parse(agentConfig([key, fleet])));
    expect(config).toMatchObject({
      listen: "0.0.0.0:50051",
      tls: {
        caFile: "/etc/ros-rollback/tls/ca.pem",
        certFile: "/etc/ros-rollback/tls/agent.pem",
        keyFile: "/etc/ros-rollback/tls/agent.key",
        crlFile: "/etc/ros-rollback/tls/crl.pem",
      },
      trustedPublicKeys: [key, fleet],
      profile: "/nix/var/nix/profiles/system",
      stateDir: "/var/lib/ros-rollback",
    });
    expect(config.health.systemd.units.map((u) => u.name)).toEqual([
      "roscore.service",
      "talker.service",
      "listener.service",
    ]);
    expect(config.health.ros?.topics.map((t) => t.name)).toEqual(["/chatter"]);
  });

  it("gives hold conditions only to a robot booted with them (a topic nobody publishes holds for good)", () => {
    const key = "lab-r1-1:JqLbdGpdbXhQ9aUCB1BvAA5WSZDHS73LT+mqWMR6MIE=";
    expect(JSON.parse(agentConfig([key]))).not.toHaveProperty("holds");
    expect(JSON.parse(agentConfig([key], undefined, undefined, []))).not.toHaveProperty("holds");
    const held = compileConfig(
      JSON.parse(
        agentConfig([key], undefined, undefined, [
          { kind: "topic", topic: "/mission_state", releasedWhen: ["idle"] },
        ]),
      ),
    );
    expect(held.holds).toEqual({
      dir: "/run/ros-rollback/holds",
      conditions: [{ kind: "topic", topic: "/mission_state", releasedWhen: ["idle"] }],
    });
    // Read through health.ros, which every lab robot has.
    expect(held.health.ros).toBeDefined();
  });

  it("adds the hold group to the robot's /etc/group once, with a free system gid", () => {
    const base = "root:x:0:\nsystemd-journal:x:999:\nfoo:x:989:\n";
    const once = withGroup(base, HOLD_GROUP);
    expect(once).toBe(`${base}${HOLD_GROUP}:x:988:\n`);
    expect(withGroup(once, HOLD_GROUP)).toBe(once);
  });

  it("writes an inventory the controller can use as-is", () => {
    const tls = { caFile: "/p/ca.pem", certFile: "/p/controller.pem", keyFile: "/p/controller.key" };
    expect(JSON.parse(inventory("r1", "10.231.1.2:50051", tls))).toEqual({
      targets: { r1: { address: "10.231.1.2:50051", ...tls, serverName: "r1" } },
    });
  });

  it("runs the agent from the bind-mounted checkout with Node from the host, restarting always", () => {
    const unit = agentUnit();
    expect(unit).toContain(
      "ExecStart=/opt/ros-rollback/node /opt/ros-rollback/app/agent/dist/main.js --config /etc/ros-rollback/agent.json",
    );
    expect(unit).toContain("Restart=always\nRestartSec=1\n");
    // A refusal to start (exit 78) does not crash-loop.
    expect(unit).toMatch(/^RestartPreventExitStatus=78$/m);
    expect(unit).toContain('Environment="NIX_CONFIG=build-users-group ="');
    // The booted entry's lab.system= wins (a VM's fallback runs the previous generation), else the profile.
    expect(labBootUnit()).toMatch(
      /^ExecStart=\/bin\/sh -c 's=\/nix\/var\/nix\/profiles\/system; .*\/proc\/cmdline.*lab\.system=.*switch-to-configuration" test'$/m,
    );
  });

  it("gives the agent the NixOS module's V8 flags and malloc arenas", () => {
    expect(agentUnit()).toMatch(/^Environment=NODE_OPTIONS=--max-semi-space-size=\d+$/m);
    const module = readFileSync(new URL("../../nix-module/agent.nix", import.meta.url), "utf8");
    expect(module).toContain(`NODE_OPTIONS = "${AGENT_NODE_OPTIONS}";`);
    expect(agentUnit()).toMatch(/^Environment=MALLOC_ARENA_MAX=\d+$/m);
    expect(module).toContain(`MALLOC_ARENA_MAX = "${AGENT_MALLOC_ARENA_MAX}";`);
  });

  it("keys the rootfs cache on the package list and build script", () => {
    expect(rootfsKey()).toMatch(/^[0-9a-f]{16}$/);
    expect(rootfsKey()).toBe(rootfsKey());
    expect(ROOTFS_PACKAGES).toContain("nix-bin");
  });
});
