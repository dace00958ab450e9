// Fault injection on a lab robot (the fault-matrix scenario): holds in front of the commands the
// agent runs, the agent's PIDs (inside the robot and on the host), and the robot's cable.
import { chmodSync, copyFileSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { AGENT_UNIT, hostIface, LAB_DIR, robotPaths } from "./config.js";
import { LabError, run } from "./proc.js";
import { labExec } from "./robot.js";
import { readIndex } from "./robot-files.js";

/** Where fault-hold.sh looks for its flags inside the robot (gone after every boot). */
export const HOLD_DIR = "/run/fm-hold";
const HOLD_SCRIPT = join(LAB_DIR, "fault-hold.sh");
const WRAPPED = ["nix-env", "systemd-run", "systemctl"] as const;

/** Puts fault-hold.sh in front of nix-env, systemd-run and systemctl on the agent's PATH (pass-through without flags). */
export function installHolds(name: string): void {
  const bin = join(robotPaths(name).root, "usr/local/bin");
  for (const tool of WRAPPED) {
    copyFileSync(HOLD_SCRIPT, join(bin, tool));
    chmodSync(join(bin, tool), 0o755);
  }
}

/** The agent's main PID inside the robot (0 while it is not running). */
export async function agentPid(name: string): Promise<number> {
  const r = await labExec(name, ["systemctl", "show", "-p", "MainPID", "--value", AGENT_UNIT], {
    timeoutMs: 10_000,
  });
  return Number(r.stdout.trim()) || 0;
}

/** The host PID of the robot's process `pid` (as the robot sees it); `init` is the robot's init on the host. */
export function hostPid(init: number, pid: number): number {
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const nspid = status
        .match(/^NSpid:\s+(.*)$/m)?.[1]
        ?.trim()
        .split(/\s+/);
      if (nspid?.at(-1) === String(pid)) return Number(entry);
    } catch {
      // exited meanwhile
    }
  }
  throw new LabError(`the robot has no process ${pid}`);
}

/** Cuts (or mends) the robot's cable: the host end of its veth, which outlives the robot's reboots. */
export async function labLink(name: string, up: boolean): Promise<void> {
  const index = readIndex(robotPaths(name));
  if (index === undefined) throw new LabError(`robot ${name} is not up`);
  await run("ip", ["link", "set", hostIface(index), up ? "up" : "down"], { timeoutMs: 10_000 });
}
