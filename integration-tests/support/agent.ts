import { Metadata } from "@grpc/grpc-js";
import {
  ActivationAction,
  type AgentClient,
  type DeploymentEvent,
  DeploymentOptions,
  DeploymentState,
  type GetStatusResponse,
} from "@ros-rollback/proto";

/** Deployment options with the proto's defaults for every field not given (new fields included). */
export function options(o: Partial<DeploymentOptions> = {}): DeploymentOptions {
  return DeploymentOptions.fromPartial({ selfConfirm: false, healthJson: "", ...o });
}

export function getStatus(c: AgentClient, timeoutMs = 5_000): Promise<GetStatusResponse> {
  return new Promise((resolve, reject) =>
    c.getStatus({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) =>
      e ? reject(e) : resolve(r),
    ),
  );
}

/** Starts an activation over raw gRPC and resolves once the deployment reaches `state`. */
export function activateUntil(
  c: AgentClient,
  storePath: string,
  o: DeploymentOptions,
  state: DeploymentState,
): Promise<DeploymentEvent> {
  return new Promise((resolve, reject) => {
    const call = c.activate({
      storePath,
      action: ActivationAction.ACTIVATION_ACTION_SWITCH,
      options: o,
      overrideHolds: [],
    });
    call.on("data", (e: DeploymentEvent) => {
      if (e.state === state) {
        call.cancel();
        resolve(e);
      } else if (e.final) {
        reject(
          new Error(
            `deployment ended in ${DeploymentState[e.state]} before ${DeploymentState[state]}: ${e.message}`,
          ),
        );
      }
    });
    call.on("error", (e: Error & { code?: number }) => {
      if (e.code !== 1) reject(e); // 1 = CANCELLED by us above
    });
  });
}

/** Polls GetStatus (reconnecting as needed) until the robot reports the deployment final. */
export async function waitFinal(
  client: () => AgentClient,
  id: string,
  timeoutMs: number,
): Promise<NonNullable<GetStatusResponse["lastDeployment"]>> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    const c = client();
    try {
      const st = await getStatus(c, 3_000);
      if (st.lastDeployment?.id === id && st.deployment === undefined) return st.lastDeployment;
      last = st.deployment ? DeploymentState[st.deployment.state] : "no deployment";
    } catch (e) {
      last = (e as Error).message;
    } finally {
      c.close();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`deployment ${id} not final after ${timeoutMs} ms (last seen: ${last})`);
}
