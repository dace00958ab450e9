import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { descendants, RosRig } from "./ros-fixture.js";

// The rig itself, with a real roscore (roslaunch, which starts rosmaster and rosout in process
// groups of their own) and a real rospy talker: whatever happens to roslaunch, nothing survives.

beforeAll(() => {
  execFileSync("bash", [fileURLToPath(new URL("./setup-ros.sh", import.meta.url))], { stdio: "inherit" });
}, 120_000);

/** Alive: in /proc and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** roscore's processes below roslaunch once rosout is up too (it registers after the master answers). */
async function coreTree(rig: RosRig): Promise<number[]> {
  const pid = rig.core?.pid;
  if (pid === undefined) throw new Error("no core");
  for (let i = 0; i < 200; i++) {
    const below = await descendants(pid);
    if (below.length >= 2) return below;
    await sleep(50);
  }
  throw new Error("rosmaster and rosout never started");
}

describe("RosRig", () => {
  it("roslaunch killed alone: rosmaster and rosout outlive it in their own groups; stopCore ends them", async () => {
    const rig = await RosRig.create();
    try {
      await rig.startCore();
      const core = rig.core;
      if (core?.pid === undefined) throw new Error("no core");
      const below = await coreTree(rig);
      const exited = new Promise((resolve) => core.once("exit", resolve));
      process.kill(core.pid, "SIGKILL");
      await exited;
      expect(below.filter(alive).length, "escaped roslaunch's group").toBeGreaterThan(0);

      await rig.stopCore();
      expect(below.filter(alive)).toEqual([]);
      expect(await rig.processes()).toEqual([]);
    } finally {
      await rig.close();
    }
  }, 30_000);

  it("close() leaves none of the processes it started, a talker's included", async () => {
    const rig = await RosRig.create();
    let started: number[] = [];
    try {
      await rig.startCore();
      const talker = rig.talker("string", "/fixture", 5, "/fixture_talker");
      await coreTree(rig);
      started = await rig.processes();
      expect(started).toContain(talker.pid);
      expect(started.length).toBeGreaterThanOrEqual(4);
    } finally {
      await rig.close();
    }
    expect(started.filter(alive)).toEqual([]);
  }, 30_000);
});
