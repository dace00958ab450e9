// Many Activates at once, each on its own channel (own TCP connection and TLS handshake).
import type { ServiceError } from "@grpc/grpc-js";
import { ActivationAction, type AgentClient, type DeploymentEvent } from "@ros-rollback/proto";
import { options } from "./agent.js";

export interface RaceStream {
  /** Events with their place in the order everything arrived in (all streams together). */
  readonly events: readonly { readonly event: DeploymentEvent; readonly seq: number }[];
  readonly error: ServiceError | undefined;
  /** Place of the error (or the end) in that order; -1 when the stream did not end in time. */
  readonly endSeq: number;
}

/** Starts one self-confirming SWITCH Activate per client at once; each stream is cancelled after timeoutMs. */
export function activateAll(
  clients: readonly AgentClient[],
  storePath: string,
  timeoutMs: number,
): Promise<RaceStream[]> {
  let seq = 0;
  return Promise.all(
    clients.map(
      (c) =>
        new Promise<RaceStream>((resolve) => {
          const events: { event: DeploymentEvent; seq: number }[] = [];
          const call = c.activate({
            storePath,
            action: ActivationAction.ACTIVATION_ACTION_SWITCH,
            options: options({ selfConfirm: true }),
            overrideHolds: [],
          });
          const timer = setTimeout(() => {
            resolve({ events, error: undefined, endSeq: -1 });
            call.cancel();
          }, timeoutMs);
          const end = (error: ServiceError | undefined) => {
            clearTimeout(timer);
            resolve({ events, error, endSeq: seq++ });
          };
          call.on("data", (event: DeploymentEvent) => events.push({ event, seq: seq++ }));
          call.on("error", (e: ServiceError) => end(e));
          call.on("end", () => end(undefined));
        }),
    ),
  );
}
