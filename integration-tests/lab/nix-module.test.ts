// The NixOS module's agent config, evaluated by Nix (Debian's nix-bin; no nixpkgs needed) and
// validated by the agent's own schema; and the lock rewrite the Nix build depends on.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileConfig } from "../../agent/src/config/load.js";
import { AGENT_HOLD_DIR, HOLD_GROUP, holdDirRule, REPO_ROOT } from "./config.js";

const env = { ...process.env, NIX_CONFIG: "build-users-group =" };

/** Evaluates a Nix expression (paths relative to the repository root) to JSON. */
function nixEval(expr: string): unknown {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "--expr", expr], {
    cwd: REPO_ROOT,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return JSON.parse(out);
}

const agentConfig = "(import ./nix-module/agent-config.nix)";
const vmSettings = `(import ./nix-module/vm/agent-settings.nix { inherit (import ./nix-module/vm/operator.nix) trustedPublicKeys; })`;
const key = "k-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

// Nix evaluation and an agent start-up: seconds each, many more on a loaded 2-core CI machine.
describe("nix-module: the agent config the NixOS module writes", { timeout: 60_000 }, () => {
  it("nixos-vm's config passes the agent's schema, with the health checks of the demo robot", () => {
    const raw = nixEval(`${agentConfig}.render ${vmSettings}`);
    const config = compileConfig(raw);
    expect(config.listen).toBe("0.0.0.0:50051");
    expect(config.tls).toEqual({
      caFile: "/etc/ros-rollback/tls/ca.pem",
      certFile: "/etc/ros-rollback/tls/agent.pem",
      keyFile: "/etc/ros-rollback/tls/agent.key",
    });
    expect(config.profile).toBe("/nix/var/nix/profiles/system");
    expect(config.stateDir).toBe("/var/lib/ros-rollback");
    // The unit the agent restarts after a kept deployment that changed it (the module's unit).
    expect(config.agentUnit).toBe("ros-rollback-agent.service");
    expect(config.confirmTimeoutSeconds).toBe(60);
    expect(config.metrics).toEqual({ listen: "127.0.0.1:9464", tls: undefined });
    expect(config.trustedPublicKeys).toEqual([
      "ros-rollback-snakeoil-1:YYFO+K5ke6FGBr1AJOCmlStsrb6r1p9FXBzrlkp0p4Y=",
    ]);
    expect(config.health.systemd.units.map((u) => u.name).sort()).toEqual([
      "listener.service",
      "roscore.service",
      "talker.service",
    ]);
    expect(config.health.systemd.units.every((u) => u.required)).toBe(true);
    expect(config.health.ros?.masterUri).toBe("http://127.0.0.1:11311");
    expect(config.health.ros?.topics).toEqual([{ name: "/chatter", maxSilenceSeconds: 5, minRateHz: 5 }]);
    // The confirm window a person can watch; the health window fits the agent's rules.
    expect(config.health.stableSeconds).toBeLessThanOrEqual(config.health.timeoutSeconds);
  });

  it("the module's typed defaults alone (plus a key) make a config the agent accepts", () => {
    const raw = nixEval(`${agentConfig}.render { trustedPublicKeys = [ "${key}" ]; }`);
    const config = compileConfig(raw);
    expect(config.listen).toBe("0.0.0.0:50051");
    expect(config.health.ros).toBeUndefined();
  });

  it("options left null are not written (the agent's defaults apply), freeform keys pass through", () => {
    const raw = nixEval(
      `${agentConfig}.render { trustedPublicKeys = [ "${key}" ]; confirmTimeoutSeconds = null; logLevel = "debug"; health = { ros = null; settleSeconds = null; exec = [ { name = "disk"; argv = [ "/run/current-system/sw/bin/true" ]; } ]; }; }`,
    );
    expect(raw).not.toHaveProperty("confirmTimeoutSeconds");
    expect(raw).toHaveProperty("health.exec");
    const config = compileConfig(raw);
    expect(config.logLevel).toBe("debug");
    expect(config.confirmTimeoutSeconds).toBe(30);
    expect(config.health.exec.map((e) => e.name)).toEqual(["disk"]);
  });

  it("hold conditions as the module's options give them (unset fields null) render a config the agent accepts", () => {
    const raw = nixEval(
      `${agentConfig}.render { trustedPublicKeys = [ "${key}" ]; health.ros.masterUri = "http://127.0.0.1:11311"; holds.conditions = [ { kind = "topic"; topic = "/mission_state"; releasedWhen = [ "idle" ]; unit = null; reason = null; } { kind = "unit"; unit = "mission.service"; topic = null; releasedWhen = null; reason = "mission running"; } ]; }`,
    );
    expect(compileConfig(raw).holds).toEqual({
      dir: "/run/ros-rollback/holds",
      conditions: [
        { kind: "topic", topic: "/mission_state", releasedWhen: ["idle"] },
        { kind: "unit", unit: "mission.service", reason: "mission running" },
      ],
    });
  });

  it("the lab robot makes its hold dir with the module's tmpfiles line, where the agent looks by default", () => {
    const [dir, group] = nixEval(
      `[ ${agentConfig}.defaults.holds.dir ${agentConfig}.holdGroup ]`,
    ) as string[];
    expect([dir, group]).toEqual([AGENT_HOLD_DIR, HOLD_GROUP]);
    expect(holdDirRule(AGENT_HOLD_DIR, HOLD_GROUP)).toBe(
      nixEval(`${agentConfig}.holdDirRule "${AGENT_HOLD_DIR}" "${HOLD_GROUP}"`),
    );
    expect(
      compileConfig(nixEval(`${agentConfig}.render { trustedPublicKeys = [ "${key}" ]; }`)).holds.dir,
    ).toBe(AGENT_HOLD_DIR);
  });

  it("insecure on loopback renders a config the agent accepts (no default tls beside it)", () => {
    const raw = nixEval(
      `${agentConfig}.render { trustedPublicKeys = [ "${key}" ]; listen = "127.0.0.1:50051"; insecure = true; }`,
    );
    expect(compileConfig(raw)).toMatchObject({ insecure: true, tls: undefined });
  });

  it("what the module refuses at evaluation, the agent refuses too", () => {
    const cases = [
      `{ trustedPublicKeys = [ "not-a-key" ]; }`,
      `{ trustedPublicKeys = [ ]; }`,
      `{ trustedPublicKeys = [ "${key}" ]; listen = "50051"; }`,
      `{ trustedPublicKeys = [ "${key}" ]; insecure = true; }`,
      `{ trustedPublicKeys = [ "${key}" ]; health.ros = { }; holds.conditions = [ { kind = "topic"; topic = "/m"; releasedWhen = [ ]; } ]; }`,
    ];
    for (const settings of cases) {
      const errors = nixEval(`${agentConfig}.errors ${settings}`) as string[];
      expect(errors.length, settings).toBeGreaterThan(0);
      expect(() => compileConfig(nixEval(`${agentConfig}.render ${settings}`)), settings).toThrow(
        /invalid config/,
      );
    }
  });
});

describe("nix/lock-with-resolved.mjs: the lock the Nix build installs from", () => {
  const lockText = readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8");
  type Entry = { version?: string; resolved?: string; integrity?: string; link?: boolean; name?: string };
  const original = JSON.parse(lockText) as { packages: Record<string, Entry> };
  // A reserved name: the test needs no registry.
  const registry = "https://registry.invalid/";
  const rewritten = JSON.parse(
    execFileSync("node", [join(REPO_ROOT, "nix/lock-with-resolved.mjs"), registry], {
      input: lockText,
      encoding: "utf8",
    }),
  ) as { packages: Record<string, Entry> };

  it("gives every registry entry its tarball URL and changes nothing else", () => {
    const keys = Object.keys(original.packages);
    expect(Object.keys(rewritten.packages)).toEqual(keys);
    for (const k of keys) {
      const before = original.packages[k] as Entry;
      const after = rewritten.packages[k] as Entry;
      const { resolved, ...rest } = after;
      if (k.includes("node_modules/") && !before.link && before.integrity !== undefined) {
        expect(resolved, k).toMatch(/^https:\/\/registry\.invalid\/.+\.tgz$/);
        expect(rest, k).toEqual(before);
      } else {
        expect(after, k).toEqual(before);
      }
    }
  });

  it("uses the registry's URL scheme for plain and scoped names", () => {
    const grpc = rewritten.packages["node_modules/@grpc/grpc-js"] as Entry;
    expect(grpc.resolved).toBe(`${registry}@grpc/grpc-js/-/grpc-js-${grpc.version}.tgz`);
    const zod = rewritten.packages["node_modules/zod"] as Entry;
    expect(zod.resolved).toBe(`${registry}zod/-/zod-${zod.version}.tgz`);
  });

  it("the repository's lock keeps no registry addresses", () => {
    for (const [k, e] of Object.entries(original.packages)) {
      if (e.resolved !== undefined) expect(e.link, k).toBe(true);
    }
  });
});

// Nix evaluation and an agent start-up: seconds each, many more on a loaded 2-core CI machine.
describe("nix-module + demo-pki: the real agent with the demo robot's config", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "ros-rollback-nix-module-"));
  let agent: ChildProcess | undefined;
  afterAll(() => {
    agent?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === "object" && addr !== null ? addr.port : 0));
      });
    });

  it("starts, serves mTLS with demo-pki's certificates (server name nixos-vm) and metrics", async () => {
    execFileSync(
      "bash",
      [join(REPO_ROOT, "nix/demo-pki.sh"), join(dir, "pki"), "nixos-vm", "IP:192.168.122.10"],
      {
        stdio: "ignore",
      },
    );
    const [grpc, metrics] = [await freePort(), await freePort()];
    // nixos-vm's settings, with this machine's paths and ports and without the ROS and unit checks.
    const raw = nixEval(
      `${agentConfig}.render (${vmSettings} // { listen = "127.0.0.1:${grpc}"; tls = { caFile = "${dir}/pki/ca.pem"; certFile = "${dir}/pki/agent.pem"; keyFile = "${dir}/pki/agent.key"; }; profile = "${dir}/profiles/system"; stateDir = "${dir}/state"; logTarget = "stdout"; metrics.listen = "127.0.0.1:${metrics}"; health = { ros = null; systemd.units = [ ]; }; })`,
    );
    writeFileSync(join(dir, "agent.json"), JSON.stringify(raw));
    agent = spawn(
      process.execPath,
      [join(REPO_ROOT, "agent/dist/main.js"), "--config", join(dir, "agent.json")],
      {
        stdio: "ignore",
        env: { ...process.env, NOTIFY_SOCKET: "" },
      },
    );
    writeFileSync(
      join(dir, "inventory.json"),
      JSON.stringify({
        targets: {
          vm: {
            address: `127.0.0.1:${grpc}`,
            caFile: "pki/ca.pem",
            certFile: "pki/controller.pem",
            keyFile: "pki/controller.key",
            serverName: "nixos-vm",
          },
        },
      }),
    );
    const status = async (): Promise<Record<string, unknown>> => {
      for (let i = 0; ; i++) {
        try {
          const out = execFileSync(
            process.execPath,
            [
              join(REPO_ROOT, "controller/dist/bundle/cli.js"),
              "status",
              "--inventory",
              join(dir, "inventory.json"),
              "--target",
              "vm",
              "--json",
              "--connect-timeout",
              "2",
            ],
            { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
          );
          return JSON.parse(out) as Record<string, unknown>;
        } catch (e) {
          if (i >= 20) throw e;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    expect(await status()).toMatchObject({ target: "vm", agentVersion: expect.any(String) });
    const body = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    expect(body).toContain("ros_rollback_agent_info");
  });
});
