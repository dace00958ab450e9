import type { ActivationAction, AgentClient, DeploymentEvent, DeploymentOptions } from "@ros-rollback/proto";
import { afterAll, beforeAll } from "vitest";
import { DeployingServer } from "./deploying-server-core.js";

export { DeployingServer };

/** A DeployingServer started before the file's tests and closed after them. */
export function useDeployingServer(): DeployingServer {
  const s = new DeployingServer();
  beforeAll(() => s.start());
  afterAll(() => s.close());
  return s;
}

export const SELF_CONFIRM: DeploymentOptions = {
  confirmTimeoutSeconds: undefined,
  magicRollback: undefined,
  autoRollback: undefined,
  selfConfirm: true,
  healthJson: "",
  label: "",
};

/** Activate's events to the end of the stream. */
export function events(
  c: AgentClient,
  storePath: string,
  action: ActivationAction,
  options: DeploymentOptions = SELF_CONFIRM,
  onEvent: (e: DeploymentEvent) => void = () => undefined,
): Promise<DeploymentEvent[]> {
  return new Promise((resolve, reject) => {
    const out: DeploymentEvent[] = [];
    const s = c.activate({ storePath, action, options, overrideHolds: [] });
    s.on("data", onEvent);
    s.on("data", (e: DeploymentEvent) => out.push(e));
    s.on("error", reject);
    s.on("end", () => resolve(out));
  });
}

/** A call deadline 5 s from now. */
export const deadline = () => ({ deadline: Date.now() + 5_000 });
