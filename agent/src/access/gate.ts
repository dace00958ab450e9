import { AgentError } from "../errors.js";
import { describeIdentity, type PeerIdentity } from "./identity.js";
import type { AccessPolicy, Role } from "./policy.js";
import { extraRolesFor, methodName, roleFor } from "./rpc-roles.js";

/** A refused call: what it was, the role it lacked ("none": no role grants the method) and who asked. */
export interface Denial {
  readonly rpc: string;
  readonly role: Role | "none";
  readonly identity: PeerIdentity | undefined;
  readonly error: AgentError;
}

/**
 * The one place that decides whether a call may go ahead (gRPC interceptor
 * and raw push channel alike). `onDenied` logs, counts and audits.
 */
export interface AccessGate {
  readonly enforced: boolean;
  /** Before any of the request is read: the method's own role. undefined: allowed. */
  admit(path: string, id: PeerIdentity | undefined): Denial | undefined;
  /** With the request message: roles its arguments add (overriding holds). undefined: allowed. */
  admitMessage(path: string, id: PeerIdentity | undefined, message: unknown): Denial | undefined;
}

export function accessGate(policy: AccessPolicy, onDenied: (d: Denial) => void): AccessGate {
  const decide = (path: string, id: PeerIdentity | undefined, needed: readonly (Role | undefined)[]) => {
    if (!policy.enforced) return undefined;
    const has = policy.rolesOf(id);
    if (needed.every((r) => r !== undefined && has.has(r))) return undefined;
    // undefined here: the method is in no role (an unknown method).
    const role = needed.find((r) => r === undefined || !has.has(r)) ?? "none";
    const rpc = methodName(path);
    const why = role === "none" ? `no role grants ${rpc}` : `it lacks role "${role}" needed for ${rpc}`;
    const denial: Denial = {
      rpc,
      role,
      identity: id,
      error: new AgentError("PERMISSION_DENIED", `permission denied to ${describeIdentity(id)}: ${why}`),
    };
    onDenied(denial);
    return denial;
  };
  return {
    enforced: policy.enforced,
    admit: (path, id) => decide(path, id, [roleFor(path)]),
    admitMessage: (path, id, message) => {
      const extra = extraRolesFor(path, message);
      return extra.length === 0 ? undefined : decide(path, id, extra);
    },
  };
}
