import { basename, join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { CLOSURE, IDLE_STATUS } from "../testing/robot-fixtures.js";

// TLS failures and usage errors.
// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({
  name: "connection",
  closure: CLOSURE,
  targets: (r) => ({ robot1: r.robot(), robot2: r.robot() }),
});
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

describe("connection and TLS", () => {
  it("fails with exit 1 when the agent's certificate is not signed by the configured CA", async () => {
    const file = rig.writeInventory("wrong-ca.json", {
      robot1: rig.robot({ caFile: basename(rig.pki.otherCa) }),
    });
    const r = await rig.run([
      "status",
      "--inventory",
      file,
      "--target",
      "robot1",
      "--connect-timeout",
      "2",
      "--json",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: robot1: UNAVAILABLE: cannot reach the agent at 127\.0\.0\.1:\d+ within 2s: self-signed certificate in certificate chain\n$/,
    );
    expect(r.json()).toMatchObject({
      error: { exitCode: 1, target: "robot1", status: "UNAVAILABLE" },
    });
    expect(rig.methods()).toEqual([]);
  });

  it("fails when the agent rejects the client certificate (other CA)", async () => {
    const file = rig.writeInventory("rogue.json", {
      robot1: rig.robot({
        certFile: basename(rig.pki.otherClientCert),
        keyFile: basename(rig.pki.otherClientKey),
      }),
    });
    const r = await rig.run(["status", "--inventory", file, "--target", "robot1", "--connect-timeout", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: robot1: UNAVAILABLE: /);
    expect(rig.methods()).toEqual([]);
  });

  it("verifies serverName instead of the address when set", async () => {
    const ok = rig.writeInventory("name-ok.json", { robot1: rig.robot({ serverName: "robot1.test" }) });
    expect((await rig.run(["status", "--inventory", ok, "--target", "robot1"])).code).toBe(0);
    const bad = rig.writeInventory("name-bad.json", { robot1: rig.robot({ serverName: "robot9.test" }) });
    const r = await rig.run(["status", "--inventory", bad, "--target", "robot1", "--connect-timeout", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: robot1: UNAVAILABLE: .*Host: robot9\.test\. is not in the cert's altnames.*\n$/,
    );
  });

  it("reports a missing TLS file as one line naming it", async () => {
    const file = rig.writeInventory("nokey.json", { robot1: rig.robot({ keyFile: "missing.key" }) });
    const r = await rig.run(["status", "--inventory", file, "--target", "robot1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: robot1: cannot read keyFile ${join(rig.dir, "missing.key")}: no such file\n`,
    );
  });
});

describe("usage errors", () => {
  it("unknown target: one line listing the known targets, exit 1", async () => {
    const r = await rig.run(["status", "--inventory", rig.inventory, "--target", "robot7"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: unknown target "robot7" in ${rig.inventory}; known targets: robot1, robot2\n`,
    );
  });

  it("missing --target points at --help; with --json stdout still holds one document", async () => {
    const r = await rig.run(["deploy", "/nix/store/x", "--inventory", rig.inventory, "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error: --target NAME is required (or set ROS_ROLLBACK_TARGET)\nRun 'ros-rollback deploy --help' for usage.\n",
    );
    expect(r.json()).toEqual({
      error: { message: "--target NAME is required (or set ROS_ROLLBACK_TARGET)", exitCode: 1 },
    });
  });

  it("--help prints help on stdout and exits 0", async () => {
    const r = await rig.run(["deploy", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: ros-rollback deploy <store-path> [options]");
    expect(r.stderr).toBe("");
  });
});
