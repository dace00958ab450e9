// Issue 27 in the lab: a robot behind NAT (`up --nat`: nothing connects in, its agent dials out to
// the lab relay on the host), reached only through the relay by the real controller CLI. One robot
// shared by the cases, in order: reachability, the everyday commands, a robot the relay lacks, the
// relay restarted inside a confirm window (back in time, and not), and a flapping link during a push.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildSystems,
  type LabRobot,
  labDown,
  labExec,
  labLink,
  labUp,
  relayDown,
  relayPid,
  relayUp,
  waitForRelayRobot,
} from "../lab/index.js";
import { type CliRun, controller } from "../support/controller.js";

// RELAY_ROBOT: another lab name, for a run beside someone else's rn-relay.
const NAME = process.env.RELAY_ROBOT ?? "rn-relay";
const sh = promisify(execFile);
let robot: LabRobot;
let systems: Record<string, string>;
let scratch: string;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};

const cli = (args: readonly string[], timeoutMs?: number): Promise<CliRun> =>
  controller(robot, args, timeoutMs);
const deploy = (system: string, ...extra: string[]): Promise<CliRun> =>
  cli(["deploy", sys(system), "--sign-key", robot.signingKey, "--json", ...extra], 150_000);

const currentSystem = async (): Promise<string> =>
  (await labExec(NAME, ["readlink", "/run/current-system"], { timeoutMs: 10_000 })).stdout.trim();

/** The robot's target with its relay fields replaced (or dropped): an inventory file for `controller`. */
function inventoryVariant(
  file: string,
  change: (t: Record<string, unknown>) => Record<string, unknown>,
): LabRobot {
  const inv = JSON.parse(readFileSync(robot.inventory, "utf8")) as {
    targets: Record<string, Record<string, unknown>>;
  };
  const target = inv.targets[NAME];
  if (target === undefined) throw new Error("no target in the lab's inventory");
  const path = join(scratch, file);
  writeFileSync(path, JSON.stringify({ targets: { [NAME]: change(target) } }));
  return { ...robot, inventory: path };
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Deploys `system`; once the robot runs it (health being judged, confirm to come), the relay dies for `downMs`. */
async function deployWithRelayOutage(system: string, downMs: number, ...extra: string[]): Promise<CliRun> {
  const running = deploy(system, ...extra);
  await waitFor(`${system} running`, async () => (await currentSystem()) === sys(system), 60_000);
  await relayDown({ hard: true });
  await new Promise((r) => setTimeout(r, downMs));
  await relayUp();
  return running;
}

interface StatusJson {
  currentSystem: string;
  lastDeployment: { state: string; rollbackReason: string | null } | null;
}

describe("a robot behind NAT, through the lab relay", () => {
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "relay-scenario-"));
    [robot, systems] = await Promise.all([labUp(NAME, { nat: true }), buildSystems()]);
    await waitForRelayRobot(NAME, { timeoutMs: 60_000 });
  }, 600_000);
  afterAll(async () => {
    await labDown(NAME);
    await relayUp(); // a failed case may have left it down; other robots may use it
    rmSync(scratch, { recursive: true, force: true });
  });

  it("nothing connects in: a direct status exits 1, the relay's exits 0", async () => {
    expect(robot.relay).toEqual({ address: "127.0.0.1:8233", name: NAME, caFile: expect.any(String) });
    const direct = inventoryVariant("direct.json", ({ relay, relayName, relayCaFile, ...t }) => ({
      ...t,
      address: robot.address,
    }));
    const refused = await controller(direct, ["status", "--connect-timeout", "2"]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/cannot reach the agent at 10\.231\.\d+\.2:50051 within 2s/);
    const viaRelay = await cli(["status", "--json"]);
    expect(viaRelay.code, viaRelay.stderr).toBe(0);
    expect(viaRelay.json).toMatchObject({ target: NAME, hostname: NAME });
  });

  it("relay up: starts racing each other agree on one relay; the robot redials it", async () => {
    await relayDown();
    expect(relayPid()).toBeUndefined();
    const ups = await Promise.all([relayUp(), relayUp(), relayUp()]);
    expect(new Set(ups.map((u) => u.pid)).size).toBe(1);
    expect(relayPid()).toBe(ups[0]?.pid);
    await waitForRelayRobot(NAME, { timeoutMs: 60_000 });
  }, 120_000);

  it("deploy, status, generations and rollback work through the relay", async () => {
    const first = await deploy("talker");
    expect(first.code, first.stderr).toBe(0);
    expect(first.json).toMatchObject({ outcome: "succeeded", generation: 1 });
    const second = await deploy("talker-header");
    expect(second.code, second.stderr).toBe(0);
    expect(second.json).toMatchObject({ outcome: "succeeded", generation: 2, previousGeneration: 1 });
    const status = await cli(["status", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect((status.json as StatusJson).currentSystem).toBe(sys("talker-header"));
    const generations = await cli(["generations", "--json"]);
    expect(generations.code, generations.stderr).toBe(0);
    expect(JSON.stringify(generations.json)).toContain(sys("talker"));
    const back = await cli(["rollback", "--json"], 120_000);
    expect(back.code, back.stderr).toBe(0);
    expect(await currentSystem()).toBe(sys("talker"));
  }, 400_000);

  it("a robot the relay does not have: exit 1 within --connect-timeout, saying it is not connected", async () => {
    const absent = inventoryVariant("absent.json", (t) => ({ ...t, relayName: "rn-absent" }));
    const started = Date.now();
    const r = await controller(absent, ["status", "--connect-timeout", "3"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/rn-absent is not connected to the relay at 127\.0\.0\.1:8233/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(3_000 + 5_000); // the CLI's start-up on a loaded host
  });

  it("the relay restarted in the confirm window and back in time: the controller reattaches and confirms", async () => {
    const r = await deployWithRelayOutage("talker-header", 8_000, "--confirm-timeout", "20");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/lost the event stream|the event stream ended early/);
    expect(r.stderr).toMatch(/confirming \S+ over a new connection/);
    expect(r.json).toMatchObject({ outcome: "succeeded" });
    expect(await currentSystem()).toBe(sys("talker-header"));
  }, 200_000);

  it("the relay back only after the confirm deadline: the robot rolls back by itself and the controller says so", async () => {
    // Deadline 4 s after healthy; the relay is down ~20 s from the switch, back within --reconnect-grace.
    const r = await deployWithRelayOutage(
      "talker",
      20_000,
      "--confirm-timeout",
      "4",
      "--reconnect-grace",
      "60",
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.json).toMatchObject({ outcome: "rolled-back" });
    expect(r.stderr).toMatch(/still no answer: .*relay/);
    // Learnt from GetStatus once the rollback ended, or followed live by Watch while it ran.
    expect(r.stderr).toMatch(
      /ended ROLLED_BACK \(agent status\)|ROLLED_BACK generation \d+ \(previous \d+\) \(rollback reason: not confirmed\)/,
    );
    expect(await currentSystem()).toBe(sys("talker-header"));
    await waitForRelayRobot(NAME, { timeoutMs: 60_000 });
    const status = await cli(["status", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    const last = (status.json as StatusJson).lastDeployment;
    expect(last?.state).toMatch(/ROLLED_BACK/i);
    expect(last?.rollbackReason).toMatch(/confirm/i);
  }, 200_000);

  it("the link flapping during a push: the deploy completes or fails cleanly, the store stays whole, the next deploy succeeds", async () => {
    const dev = `rrl${robot.address.split(".")[2]}h`;
    // 8 MB of random payload at 4 Mbit/s: a push of ~16 s, cut every few seconds.
    await sh("tc", [
      "qdisc",
      "replace",
      "dev",
      dev,
      "root",
      "tbf",
      "rate",
      "4mbit",
      "burst",
      "32kbit",
      "latency",
      "400ms",
    ]);
    let flapping = true;
    const flaps = (async () => {
      let n = 0;
      while (flapping && n < 8) {
        await new Promise((r) => setTimeout(r, 2_500));
        await labLink(NAME, false);
        await new Promise((r) => setTimeout(r, 1_500));
        await labLink(NAME, true);
        n++;
      }
      return n;
    })();
    const before = await currentSystem();
    let r: CliRun;
    let ended = Date.now();
    try {
      r = await deploy("big-talker", "--compress", "none", "--rpc-timeout", "30", "--connect-timeout", "10");
      ended = Date.now();
    } finally {
      flapping = false;
      await flaps;
      await labLink(NAME, true);
      await sh("tc", ["qdisc", "del", "dev", dev, "root"]).catch(() => undefined);
    }
    expect(await flaps).toBeGreaterThanOrEqual(1);
    // Completed, or failed before activation with nothing changed.
    expect([0, 1], r.stderr).toContain(r.code);
    expect(await currentSystem()).toBe(r.code === 0 ? sys("big-talker") : before);
    const verify = await labExec(NAME, ["nix-store", "--verify"], { timeoutMs: 120_000 });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr).not.toMatch(/invalid|missing|corrupt/i);
    await waitForRelayRobot(NAME, { timeoutMs: 90_000 });
    // The next deploy: the interrupted one again (its push resumes), or another system. A push the
    // controller gave up on may still hold this certificate's slot (its tunnel died without a FIN);
    // once it has been idle past the agent's 10 s the new push replaces it (agent/README.md).
    await new Promise((res) => setTimeout(res, Math.max(0, ended + 11_000 - Date.now())));
    const nextSystem = r.code === 0 ? "talker" : "big-talker";
    const next = await deploy(nextSystem, "--compress", "none");
    expect(next.code, next.stderr).toBe(0);
    expect(await currentSystem()).toBe(sys(nextSystem));
    expect(relayPid()).toBeDefined();
  }, 600_000);
});
