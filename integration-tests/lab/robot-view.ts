// What `up` hands back for a robot: its inventories (operator and read-only) and its description.
import { writeFileSync } from "node:fs";
import { AGENT_PORT, addressFor, inventory, type LabRobot, METRICS_PORT, type RobotPaths } from "./config.js";
import { type NatView, natMetrics, relayInventory } from "./nat.js";
import type { RobotKeys } from "./pki.js";
import { robotSsh } from "./ssh.js";

/** The operator's inventory (all roles) and the read-only one, for the controller to use as-is. */
export function writeInventories(
  name: string,
  paths: RobotPaths,
  index: number,
  keys: RobotKeys,
  nat?: NatView,
): void {
  if (nat !== undefined) {
    writeFileSync(paths.inventory, relayInventory(name, nat.route, keys.ca, nat.operator));
    writeFileSync(paths.readOnlyInventory, relayInventory(name, nat.route, keys.ca, nat.reader));
    return;
  }
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
  nat?: NatView,
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
    metrics:
      nat === undefined ? `http://${addressFor(index).robot}:${METRICS_PORT}/metrics` : natMetrics(name),
    ...(ssh === undefined ? {} : { ssh }),
    ...(nat === undefined ? {} : { relay: nat.route }),
  };
}
