import { checkPathSignature, type NixPublicKey, type SignedFields } from "@ros-rollback/nix-core";
import { AgentError } from "../errors.js";

/**
 * Returns the name of the trusted key that signed the path, or throws
 * AgentError(UNTRUSTED) naming the path and saying why it is refused.
 */
export function verifyPathSignature(info: SignedFields, trustedKeys: readonly NixPublicKey[]): string {
  const verdict = checkPathSignature(info, trustedKeys);
  if (!verdict.trusted) throw new AgentError("UNTRUSTED", verdict.message);
  return verdict.keyName;
}
