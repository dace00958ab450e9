import * as grpc from "@grpc/grpc-js";
import { AGENT_ERROR_CODE_KEY } from "@ros-rollback/proto";
import { AgentCallError } from "./call-error.js";

export { AgentCallError };

export function isServiceError(e: unknown): e is grpc.ServiceError {
  return (
    e instanceof Error &&
    "code" in e &&
    typeof e.code === "number" &&
    "details" in e &&
    "metadata" in e &&
    e.metadata instanceof grpc.Metadata
  );
}

/** ServiceError → AgentCallError; anything else passes through untouched (a bug, or already a UserError). */
export function toAgentCallError(target: string, e: unknown): unknown {
  if (!isServiceError(e)) return e;
  const agentCode = e.metadata.get(AGENT_ERROR_CODE_KEY)[0];
  return new AgentCallError(target, e.code, e.details, {
    cause: e,
    agentCode: typeof agentCode === "string" ? agentCode : undefined,
  });
}
