// The lab robot: a real systemd, Nix store and ROS 1 in a container on this host.
export type { LabHoldCondition, LabRobot, TlsFiles } from "./config.js";
export { AGENT_HOLD_DIR, AGENT_PORT, addressFor, FAIL_FLAG, ROBOT_IFACE } from "./config.js";
export type { ExecOptions } from "./container.js";
export { agentPid, HOLD_DIR, hostPid, installHolds, labLink } from "./faults.js";
export {
  type FleetInventory,
  labDownMany,
  labFail,
  labInventory,
  labUpMany,
  type UpManyOptions,
} from "./fleet-ops.js";
export { LabError } from "./proc.js";
export { labReachable, waitForAgent } from "./reach.js";
export { type LabRelay, relayDown, relayPid, relayUp } from "./relay.js";
export { relayQuery, waitForRelayRobot } from "./relay-query.js";
export {
  type ExecResult,
  labDown,
  labExec,
  labRestart,
  labUp,
  type RestartOptions,
  type UpOptions,
} from "./robot.js";
export { ensureRootfs, rootfsPath } from "./rootfs.js";
export { labRotateController, type Rotation } from "./rotate.js";
export {
  buildKernelSystems,
  buildSizedSystems,
  buildSystems,
  exportClosure,
  KERNEL_SYSTEMS,
  type KernelSystem,
} from "./systems.js";
export { labVmImage } from "./vm-image.js";
