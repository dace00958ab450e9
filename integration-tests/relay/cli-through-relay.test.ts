import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { buildBundle, runBundled } from "../../controller/src/testing/bundled-cli.js";
import type { RunningRelay } from "../../relay/src/index.js";
import { linkFor, makeRelayPki, memoryLog, type RelayPki, relayFor, until } from "./rig.js";

// The shipped CLI, with an inventory whose targets name a relay: every command's connection goes through it.
const agent = useDeployingServer();
let dir: string;
let bundle: string;
let pki: RelayPki;
let relay: RunningRelay;
let inventory: string;
let stopLink: () => void;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-cli-"));
  bundle = buildBundle("rl-cli-bundle-");
  pki = makeRelayPki(dir);
  relay = await relayFor(pki, [agent.pki.caFile], memoryLog());
  const link = linkFor(pki, agent, relay.robotPort);
  link.start();
  stopLink = () => link.stop();
  await until(() => link.current === "connected", 5_000, "the robot's link");
  const viaRelay = (relayName: string) => ({
    relay: `127.0.0.1:${relay.controllerPort}`,
    relayName,
    relayCaFile: pki.relayCa,
    caFile: agent.pki.caFile,
    certFile: agent.pki.clientCert,
    keyFile: agent.pki.clientKey,
    serverName: "localhost",
  });
  inventory = join(dir, "fleet.json");
  writeFileSync(
    inventory,
    JSON.stringify({ targets: { "rl-robot1": viaRelay("rl-robot1"), "rl-gone": viaRelay("rl-gone") } }),
  );
});

afterAll(async () => {
  stopLink();
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
});

const run = (args: string[]) =>
  runBundled(bundle, ["--inventory", inventory, "--connect-timeout", "2", ...args], {
    env: { ...process.env, ROS_ROLLBACK_CODE_CACHE: "off" },
    killAfterMs: 30_000,
  });

describe("the CLI through a relay", () => {
  it("status of the connected robot answers", async () => {
    const r = await run(["status", "--target", "rl-robot1", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ target: "rl-robot1", agentVersion: "test" });
  });

  it("a robot not connected to the relay: exit 1 within the connect timeout, saying so", async () => {
    const started = Date.now();
    const r = await run(["status", "--target", "rl-gone"]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /rl-gone is not connected to the relay at 127\.0\.0\.1:\d+; not seen since the relay started/,
    );
  });

  it("status --all says per robot whether it is connected to the relay, and since when", async () => {
    const r = await run(["status", "--all", "--json"]);
    expect(r.code).toBe(6);
    const entries = JSON.parse(r.stdout) as { target: string; relay: unknown }[];
    const since = relay.registry.state("rl-robot1").since;
    expect(entries).toEqual([
      expect.objectContaining({
        target: "rl-robot1",
        relay: expect.objectContaining({ connected: true, since }),
      }),
      expect.objectContaining({
        target: "rl-gone",
        relay: expect.objectContaining({ connected: false, lastSeen: null }),
        error: expect.objectContaining({ message: expect.stringMatching(/not connected to the relay/) }),
      }),
    ]);
    const human = await run(["status", "--all"]);
    expect(human.stdout).toMatch(/== rl-robot1 ==\nrelay: +127\.0\.0\.1:\d+: connected since /);
    expect(human.stdout).toMatch(/== rl-gone ==\nrelay: +127\.0\.0\.1:\d+: NOT connected/);
  });
});
