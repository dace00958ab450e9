import type { Role } from "./policy.js";

/** Methods of ros_rollback.v1.Agent by name (the last part of the gRPC path). */
export type AgentMethod =
  | "GetStatus"
  | "ListGenerations"
  | "QueryMissingPaths"
  | "PushPaths"
  | "QuerySubstitutable"
  | "Substitute"
  | "Activate"
  | "Rollback"
  | "Confirm"
  | "CheckHealth"
  | "Watch"
  | "Plan"
  | "Hold"
  | "Release"
  | "ListHolds"
  | "CollectGarbage"
  | "GetAuditLog";

/**
 * THE table of who may call what: the role each method needs. Queries that
 * change nothing are `read`; whatever brings paths or switches the system is
 * `deploy`; holds are `hold`. A method missing here is refused to everyone
 * (access.test.ts checks that every method of the service is here).
 */
export const METHOD_ROLE: Readonly<Record<AgentMethod, Role>> = {
  GetStatus: "read",
  ListGenerations: "read",
  QueryMissingPaths: "read",
  QuerySubstitutable: "read",
  CheckHealth: "read",
  Watch: "read",
  Plan: "read",
  ListHolds: "read",
  GetAuditLog: "read",
  PushPaths: "deploy",
  Substitute: "deploy",
  Activate: "deploy",
  Rollback: "deploy",
  Confirm: "deploy",
  // Deletes generations: as much a change of the robot as a rollback.
  CollectGarbage: "deploy",
  Hold: "hold",
  Release: "hold",
};

/** The other services on the agent's port: gRPC health and reflection are queries. */
const READ_SERVICES = ["/grpc.health.v1.Health/", "/grpc.reflection.v1.", "/grpc.reflection.v1alpha."];
const AGENT_PREFIX = "/ros_rollback.v1.Agent/";

/** The raw push channel is PushPaths by other means: the same role. */
export const RAW_PUSH_METHOD: AgentMethod = "PushPaths";

/** The method's short name for logs and metrics ("GetStatus"); the whole path bounded otherwise. */
export function methodName(path: string): string {
  const name = path.startsWith(AGENT_PREFIX) ? path.slice(AGENT_PREFIX.length) : path;
  return name.slice(0, 100);
}

/** The role a call of `path` needs; undefined: no role grants it (an unknown method). */
export function roleFor(path: string): Role | undefined {
  if (READ_SERVICES.some((p) => path.startsWith(p))) return "read";
  if (!path.startsWith(AGENT_PREFIX)) return undefined;
  const name = path.slice(AGENT_PREFIX.length);
  return Object.hasOwn(METHOD_ROLE, name) ? METHOD_ROLE[name as AgentMethod] : undefined;
}

/** Activate and Rollback naming holds to override need `hold` besides `deploy`. */
export function extraRolesFor(path: string, message: unknown): readonly Role[] {
  const name = methodName(path);
  if (name !== "Activate" && name !== "Rollback") return [];
  const holds = (message as { overrideHolds?: unknown } | null)?.overrideHolds;
  return Array.isArray(holds) && holds.length > 0 ? ["hold"] : [];
}
