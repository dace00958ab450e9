import { z } from "zod";
import type { PeerIdentity } from "./identity.js";

/** What a caller may do; a certificate may have several. */
export type Role = "read" | "deploy" | "hold";
export const ROLES: readonly Role[] = ["read", "deploy", "hold"];

const field = z.string().min(1).max(1_024);

/**
 * The `access` section: rules that give roles to client certificates. A rule
 * matches when every field it names matches (a value equal to one of the
 * certificate's for that field); a certificate's roles are the union of its
 * matching rules'. Unmatched certificates get no role.
 */
export const accessConfigSchema = z
  .object({
    rules: z
      .array(
        z
          .object({
            /** Subject common name, exactly. */
            cn: field.optional(),
            /** Subject organisation (Kubernetes' groups), exactly. */
            o: field.optional(),
            /** Subject organisational unit, exactly. */
            ou: field.optional(),
            /** A SAN URI, exactly (e.g. `spiffe://fleet/ops/alice`). */
            uri: field.optional(),
            /** SHA-256 fingerprint of one certificate (`AB:CD:…`, any case). */
            fingerprint: z
              .string()
              .regex(/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/, "expected a SHA-256 fingerprint AB:CD:…")
              .optional(),
            roles: z.array(z.enum(["read", "deploy", "hold"])).min(1),
          })
          .strict()
          .refine(
            (r) => [r.cn, r.o, r.ou, r.uri, r.fingerprint].some((v) => v !== undefined),
            "a rule must name at least one of cn, o, ou, uri, fingerprint (a rule matching everyone is not allowed)",
          ),
      )
      .max(1_000),
  })
  .strict();

export type AccessConfig = z.output<typeof accessConfigSchema>;

interface CompiledRule {
  readonly cn?: string;
  readonly o?: string;
  readonly ou?: string;
  readonly uri?: string;
  readonly fingerprint?: string;
  readonly roles: ReadonlySet<Role>;
}

/** The compiled `access` section; `enforced: false` is a config without one (every certificate may do all). */
export interface AccessPolicy {
  readonly enforced: boolean;
  rolesOf(id: PeerIdentity | undefined): ReadonlySet<Role>;
}

const ALL: ReadonlySet<Role> = new Set(ROLES);
const NONE: ReadonlySet<Role> = new Set();

/** Today's behaviour: any certificate chaining to the CA may do everything. */
export const OPEN_POLICY: AccessPolicy = { enforced: false, rolesOf: () => ALL };

function matches(rule: CompiledRule, id: PeerIdentity): boolean {
  // Several CNs is no one's name: a rule naming a CN never matches such a certificate.
  if (rule.cn !== undefined && !(id.cn.length === 1 && id.cn[0] === rule.cn)) return false;
  if (rule.o !== undefined && !id.o.includes(rule.o)) return false;
  if (rule.ou !== undefined && !id.ou.includes(rule.ou)) return false;
  if (rule.uri !== undefined && !id.uris.includes(rule.uri)) return false;
  if (rule.fingerprint !== undefined && id.fingerprint.toUpperCase() !== rule.fingerprint) return false;
  return true;
}

/** The `access` section as a policy; undefined (no section): OPEN_POLICY. */
export function compileAccess(config: AccessConfig | undefined): AccessPolicy {
  if (config === undefined) return OPEN_POLICY;
  const rules: CompiledRule[] = config.rules.map((r) => ({
    ...r,
    fingerprint: r.fingerprint?.toUpperCase(),
    roles: new Set(r.roles),
  }));
  return {
    enforced: true,
    rolesOf: (id) => {
      if (id === undefined) return NONE;
      const roles = new Set<Role>();
      for (const rule of rules) if (matches(rule, id)) for (const role of rule.roles) roles.add(role);
      return roles;
    },
  };
}
