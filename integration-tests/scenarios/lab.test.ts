// End-to-end check of the lab robot itself, without the agent: a real systemd, Nix store and
// ROS 1 in the container, switched between the fixture systems by hand.
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildSystems,
  exportClosure,
  type LabRobot,
  labDown,
  labExec,
  labFail,
  labReachable,
  labRestart,
  labUp,
} from "../lab/index.js";

const NAME = "lab-rig";
const PROFILE = "/nix/var/nix/profiles/system";
let robot: LabRobot;
let systems: Record<string, string>;

async function inRobot(argv: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string }> {
  return labExec(NAME, argv, { timeoutMs });
}

/** Imports a fixture's closure from the host's store, sets the profile to it, and runs its switch. */
async function deploy(system: string, action = "switch"): Promise<number> {
  const path = systems[system];
  if (path === undefined) throw new Error(`no fixture system ${system}`);
  const imported = await labExec(NAME, ["nix-store", "--import"], { input: await exportClosure(path) });
  expect(imported.code, imported.stderr).toBe(0);
  expect((await inRobot(["nix-env", "-p", PROFILE, "--set", path])).code).toBe(0);
  return (await inRobot([`${path}/bin/switch-to-configuration`, action])).code;
}

const mainPid = async (unit: string): Promise<string> =>
  (await inRobot(["systemctl", "show", "-p", "MainPID", "--value", unit])).stdout.trim();

const echoChatter = () => inRobot(["timeout", "15", "rostopic", "echo", "-n", "1", "/chatter"], 20_000);

const pingable = (): Promise<boolean> => labReachable(NAME);

describe("lab robot", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME, { agent: false }), buildSystems()]);
  });
  afterAll(async () => {
    await labDown(NAME);
  });

  it("boots with its own address and answers again when up is repeated", async () => {
    expect(robot.address).toMatch(/^10\.231\.\d+\.2:50051$/);
    expect((await inRobot(["hostname"])).stdout.trim()).toBe(NAME);
    expect((await labUp(NAME, { agent: false })).pid).toBe(robot.pid);
    expect(await pingable()).toBe(true);
  });

  it("switches to talker, and a message arrives on /chatter", async () => {
    expect(await deploy("talker")).toBe(0);
    const echo = await echoChatter();
    expect(echo.code).toBe(0);
    expect(echo.stdout).toContain('data: "hello world');
  });

  it("the fail flag silences a flag-talker's talker (all of them, or the one it names); removing it heals", async () => {
    expect(await deploy("flag-talker")).toBe(0);
    expect((await echoChatter()).stdout).toContain('data: "hello world');
    const silentFor4s = async () =>
      (await inRobot(["timeout", "4", "rostopic", "echo", "-n", "1", "/chatter"], 15_000)).code === 124;
    await labFail(NAME);
    expect(await silentFor4s()).toBe(true);
    await labFail(NAME, { system: "flag-talker-header" });
    expect((await echoChatter()).stdout).toContain('data: "hello world');
    await labFail(NAME, { system: "flag-talker" });
    expect(await silentFor4s()).toBe(true);
    await labFail(NAME, { off: true });
    expect((await echoChatter()).stdout).toContain('data: "hello world');
    expect(await deploy("talker")).toBe(0);
  });

  it("switches talker → talker-header restarting the talker but not roscore", async () => {
    const roscore = await mainPid("roscore.service");
    const talker = await mainPid("talker.service");
    expect(await deploy("talker-header")).toBe(0);
    expect(await mainPid("roscore.service")).toBe(roscore);
    expect(await mainPid("talker.service")).not.toBe(talker);
    expect((await echoChatter()).stdout).toContain('frame_id: "lab"');
  });

  it("dry-activate reports and changes nothing", async () => {
    const talker = await mainPid("talker.service");
    const r = await inRobot([`${systems.talker}/bin/switch-to-configuration`, "dry-activate"]);
    expect(r.stdout).toContain("would restart the following units: listener.service, talker.service");
    expect(await mainPid("talker.service")).toBe(talker);
  });

  it("a crashing talker makes the switch exit 4", async () => {
    expect(await deploy("crashing-talker")).toBe(4);
    expect((await inRobot(["systemctl", "is-failed", "talker.service"])).stdout.trim()).toBe("failed");
  });

  it("no-network cuts the host's ping, and switching back restores it", async () => {
    expect(await deploy("no-network")).toBe(0);
    expect(await pingable()).toBe(false);
    expect(await deploy("talker")).toBe(0);
    expect(await pingable()).toBe(true);
  });

  it("restart boots the profile's system again (the lab's bootloader)", async () => {
    expect(await deploy("talker-header", "boot")).toBe(0);
    robot = await labRestart(NAME, { bootTimeoutMs: 60_000 });
    expect((await inRobot(["readlink", "/run/current-system"])).stdout.trim()).toBe(systems["talker-header"]);
    expect((await echoChatter()).stdout).toContain('frame_id: "lab"');
  });

  it("a hard restart (power cut) also comes back with the profile's system", async () => {
    const before = robot.pid;
    robot = await labRestart(NAME, { hard: true, bootTimeoutMs: 60_000 });
    expect(robot.pid).not.toBe(before);
    expect((await echoChatter()).stdout).toContain('frame_id: "lab"');
  });

  it("down removes the container, mount, netns and directory", async () => {
    await labDown(NAME);
    await labDown(NAME);
    expect(existsSync(`/run/netns/rrl-${NAME}`)).toBe(false);
    expect(existsSync(robot.rootDir)).toBe(false);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mounts).not.toContain(robot.rootDir);
  });
});
