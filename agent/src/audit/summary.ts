import { printable } from "@ros-rollback/nix-core";
import { cut } from "../text/bounded.js";

/** Characters of one string argument in an audit entry. */
const MAX_ARG = 300;
/** Names of a list an entry keeps (overrides, paths). */
const MAX_ITEMS = 8;

const text = (v: unknown): string | undefined =>
  typeof v === "string" ? cut(printable(v), MAX_ARG) : undefined;
const list = (v: unknown): { count: number; first: (string | undefined)[] } | undefined =>
  Array.isArray(v) ? { count: v.length, first: v.slice(0, MAX_ITEMS).map(text) } : undefined;

/**
 * What a mutating request asked for, bounded and escaped: enough to tell what
 * was done (closure path, action, overrides, hold name) without echoing a
 * hostile client's megabytes into the log.
 */
export function summarizeArgs(rpc: string, message: unknown): Record<string, unknown> {
  const m = (typeof message === "object" && message !== null ? message : {}) as Record<string, unknown>;
  switch (rpc) {
    case "Activate":
      return {
        storePath: text(m.storePath),
        action: m.action,
        overrideHolds: list(m.overrideHolds),
        label: text((m.options as { label?: unknown } | undefined)?.label),
      };
    case "Rollback":
      return { generation: m.generation, overrideHolds: list(m.overrideHolds) };
    case "Confirm":
      return { deploymentId: text(m.deploymentId) };
    case "Hold":
      return { name: text(m.name), reason: text(m.reason), durationSeconds: m.durationSeconds };
    case "Release":
      return { name: text(m.name) };
    case "CollectGarbage":
      return { dryRun: m.dryRun };
    case "Substitute":
      return { storePaths: list(m.storePaths) };
    default:
      return {};
  }
}
