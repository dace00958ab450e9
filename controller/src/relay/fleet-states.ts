import { readFile } from "node:fs/promises";
import { MAX_QUERY_ROBOTS } from "@ros-rollback/proto/relay";
import type { Target } from "../targets/inventory.js";

/** A robot's connection to its relay as `status` shows it. */
export type RelayView =
  | {
      readonly address: string;
      readonly connected: boolean;
      readonly since: string | null;
      readonly lastSeen: string | null;
    }
  | { readonly address: string; readonly error: string };

/**
 * For each target routed through a relay: is it connected, and since when.
 * Per relay (and controller certificate), one connection, and on it one query
 * per MAX_QUERY_ROBOTS robots, one after another.
 */
export async function relayStates(
  targets: readonly Target[],
  timeoutMs: number,
): Promise<Map<string, RelayView>> {
  const groups = new Map<string, Target[]>();
  for (const t of targets) {
    if (t.relay === undefined) continue;
    const key = JSON.stringify([t.relay.address, t.relay.caFile, t.certFile, t.keyFile]);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const out = new Map<string, RelayView>();
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const first = group[0] as Target & { relay: NonNullable<Target["relay"]> };
      const address = first.relay.address;
      try {
        const [ca, cert, key] = await Promise.all([
          readFile(first.relay.caFile),
          readFile(first.certFile),
          readFile(first.keyFile),
        ]);
        const names = group.map((t) => t.relay?.name ?? t.name);
        const states = [];
        // Loaded here, not with `status`: it brings node:http2 (bundle-graph.test.ts).
        const { RelayClient } = await import("./dial.js");
        const client = new RelayClient({ address, ca, cert, key });
        try {
          for (let i = 0; i < names.length; i += MAX_QUERY_ROBOTS)
            states.push(...(await client.query(names.slice(i, i + MAX_QUERY_ROBOTS), timeoutMs)));
        } finally {
          client.close();
        }
        const byName = new Map(states.map((s) => [s.name, s]));
        for (const t of group) {
          const s = byName.get(t.relay?.name ?? t.name);
          out.set(t.name, {
            address,
            connected: s?.connected === true,
            since: s?.since ?? null,
            lastSeen: s?.lastSeen ?? null,
          });
        }
      } catch (e) {
        const error = (e as Error).message.slice(0, 300);
        for (const t of group) out.set(t.name, { address, error });
      }
    }),
  );
  return out;
}

/** One line for the human view. */
export function relayLine(v: RelayView): string {
  if ("error" in v) return `relay:       ${v.address}: ${v.error}`;
  if (v.connected) return `relay:       ${v.address}: connected since ${v.since ?? "?"}`;
  return `relay:       ${v.address}: NOT connected${v.lastSeen ? ` (last seen ${v.lastSeen})` : ""}`;
}
