import { type GetStatusResponse, type PushPathsRequest, DeploymentState as S } from "@ros-rollback/proto";
import { event, type StreamStep } from "./fake-agent.js";
import { pathInfo } from "./fake-closure.js";

/** What the command tests deploy: a system with two dependencies. */
export const SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024, []);
export const CLOSURE = [
  pathInfo("glibc", 200 * 1024),
  pathInfo("ros-nodes", 100 * 1024),
  { ...SYSTEM, references: ["glibc", "ros-nodes"] },
];

/** An idle robot on generation 41. */
export const IDLE_STATUS: GetStatusResponse = {
  agentVersion: "0.1.0",
  hostname: "robot1",
  currentSystem: "/nix/store/old-system",
  currentGeneration: 41,
  profileSystem: "/nix/store/old-system",
  holds: [],
  deployment: undefined,
  lastDeployment: undefined,
};

/** A pushPaths handler that imports every path it is sent. */
export function acceptPush(received: PushPathsRequest[]) {
  const paths = received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []));
  const bytes = received.reduce((s, m) => s + (m.item?.$case === "chunk" ? m.item.value.data.length : 0), 0);
  return { imported: paths, skipped: [], narBytes: bytes };
}

/** A switch from generation 41 to 42 up to ACTIVATING, then `last`. */
export const switchEvents = (last: StreamStep[]): StreamStep[] => [
  event(S.DEPLOYMENT_STATE_PENDING, { previousGeneration: 41, message: "switch to …" }),
  event(S.DEPLOYMENT_STATE_PROFILE_SET, { generation: 42, previousGeneration: 41 }),
  event(S.DEPLOYMENT_STATE_ACTIVATING, { generation: 42, previousGeneration: 41 }),
  ...last,
];
