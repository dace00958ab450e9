// The links the transfers are measured on. Each opens on a running lab robot (booted with ssh) and
// says how every variant reaches the robot over it; close() puts the robot's link back as it was.
import type { Duplex } from "node:stream";
import type { LabRobot, TlsFiles } from "../../integration-tests/lab/index.js";
import { controllerTls } from "../../integration-tests/support/controller.js";
import type { LinkName } from "./names.js";
import { startProxyProcess } from "./proxy-process.js";
import { shape, unshape } from "./tbf.js";

export { LINKS, type LinkName } from "./names.js";

/** Where a variant connects on this link. */
export interface Target {
  /** The lab robot's name (for labExec, which bypasses the network). */
  robot: string;
  /** Host PID of the robot's init: the baselines enter it with nsenter, no relay of ours. */
  robotPid: number;
  /** host:port of the agent's gRPC server. */
  agentAddress: string;
  /** The name the agent's certificate must carry when agentAddress is not its own (a relay's loopback port). */
  serverName?: string;
  /** The raw push's byte stream to the agent instead of TCP to agentAddress (a relay's stream). */
  dial?: () => Promise<Duplex>;
  tls: TlsFiles;
  ssh: { host: string; port: number; options: readonly string[] };
}

export interface OpenLink {
  readonly target: Target;
  readonly describe: string;
  close(): Promise<void>;
}

export interface LinkSettings {
  /** tbf rate for 20mbit (tc syntax). */
  rate: string;
  /** Added per direction by the rtt50 proxy. */
  delayMs: number;
}

/** The robot's own addresses, no link in between. */
export function directTarget(robot: LabRobot): Target {
  if (robot.ssh === undefined) throw new Error(`robot ${robot.name} has no sshd: up it with ssh`);
  return {
    robot: robot.name,
    robotPid: robot.pid,
    agentAddress: robot.address,
    tls: controllerTls(robot),
    ssh: { host: robot.ssh.host, port: robot.ssh.port, options: robot.ssh.options },
  };
}

export async function openLink(name: LinkName, robot: LabRobot, settings: LinkSettings): Promise<OpenLink> {
  const target = directTarget(robot);
  switch (name) {
    case "veth":
      return { target, describe: "the lab veth, unshaped", close: async () => undefined };
    case "20mbit": {
      const dev = await shape(robot, settings.rate);
      return {
        target,
        describe: `tc tbf rate ${settings.rate} burst 32kbit latency 400ms on ${dev} (host→robot)`,
        close: () => unshape(dev),
      };
    }
    case "rtt50": {
      const [host, port] = robot.address.split(":") as [string, string];
      const agent = `${host}:${port}`;
      const ssh = `${target.ssh.host}:${target.ssh.port}`;
      const proxy = await startProxyProcess(settings.delayMs, [agent, ssh]);
      return {
        target: {
          ...target,
          agentAddress: `127.0.0.1:${proxy.ports[agent]}`,
          ssh: { ...target.ssh, host: "127.0.0.1", port: proxy.ports[ssh] ?? 0 },
        },
        describe: `user-space proxy on the host, +${settings.delayMs} ms per chunk each way (agent and sshd)`,
        close: () => proxy.close(),
      };
    }
  }
}
