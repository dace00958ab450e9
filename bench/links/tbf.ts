// The 20 Mbit/s link: a token bucket on the host end of the robot's veth, so pushes (host → robot)
// are shaped; the robot's replies are not.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { hostIface } from "../../integration-tests/lab/config.js";
import type { LabRobot } from "../../integration-tests/lab/index.js";

const sh = promisify(execFile);

/** Shapes the robot's link; returns the host interface. */
export async function shape(robot: LabRobot, rate: string): Promise<string> {
  const dev = hostIface(Number(robot.address.split(".")[2]));
  // biome-ignore format: one tc command
  await sh("tc", ["qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]);
  return dev;
}

export async function unshape(dev: string): Promise<void> {
  await sh("tc", ["qdisc", "del", "dev", dev, "root"]);
}
