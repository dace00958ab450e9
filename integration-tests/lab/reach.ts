// Reaching the robot from the host over its network.
import { AGENT_PORT, addressFor, robotPaths } from "./config.js";
import { isNat } from "./nat.js";
import { LabError, poll } from "./proc.js";
import { waitForRelayRobot } from "./relay-query.js";
import { readIndex } from "./robot-files.js";
import { tcpProbe } from "./tcp-probe.js";

function robotHost(name: string): string {
  const index = readIndex(robotPaths(name));
  if (index === undefined) throw new LabError(`robot ${name} is not up`);
  return addressFor(index).robot;
}

/**
 * Whether the host reaches the robot over its network (a TCP "ping" to the agent's port: an
 * accepted or a refused connection both prove the path; a timeout does not).
 */
export async function labReachable(name: string, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  return (await tcpProbe(robotHost(name), AGENT_PORT, opts.timeoutMs ?? 1_500)) !== "unreachable";
}

/**
 * Waits until the agent's port accepts a TCP connection from the host, or, for a robot behind NAT
 * (which takes no connection in), until its agent is connected to the lab relay.
 */
export async function waitForAgent(
  name: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  if (isNat(robotPaths(name))) return waitForRelayRobot(name, opts);
  const host = robotHost(name);
  const open = async (): Promise<true | undefined> =>
    (await tcpProbe(host, AGENT_PORT, 1_000)) === "open" ? true : undefined;
  await poll(`robot ${name}: agent on ${host}:${AGENT_PORT}`, open, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    intervalMs: 250,
    signal: opts.signal,
  });
}
