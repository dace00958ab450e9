// What `up` hands back for a robot: its inventories (operator and read-only) and its description.
import { writeFileSync } from "node:fs";
import { AGENT_PORT, addressFor, inventory, type LabRobot, METRICS_PORT, type RobotPaths } from "./config.js";
import type { RobotKeys } from "./pki.js";
import { robotSsh } from "./ssh.js";

/** The operator's inventory (all roles) and the read-only one, for the controller to use as-is. */
export function writeInventories(name: string, paths: RobotPaths, index: number, keys: RobotKeys): void {
  const address = `${addressFor(index).robot}:${AGENT_PORT}`;
  writeFileSync(paths.inventory, inventory(name, address, keys.controller));
  writeFileSync(paths.readOnlyInventory, inventory(name, address, keys.reader));
}

export function describeRobot(
  name: string,
  paths: RobotPaths,
  index: number,
  keys: RobotKeys,
  pid: number,
): LabRobot {
  const ssh = robotSsh(name, paths, addressFor(index).robot);
  return {
    name,
    target: name,
    inventory: paths.inventory,
    readOnlyInventory: paths.readOnlyInventory,
    address: `${addressFor(index).robot}:${AGENT_PORT}`,
    signingKey: keys.signingKey,
    publicKey: keys.publicKey,
    rogue: keys.rogue,
    rootDir: paths.root,
    pid,
    metrics: `http://${addressFor(index).robot}:${METRICS_PORT}/metrics`,
    ...(ssh === undefined ? {} : { ssh }),
  };
}
