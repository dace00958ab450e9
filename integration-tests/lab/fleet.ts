// Several robots at once: bounded-parallel work, and one inventory holding them all (with labels).
import { createHash } from "node:crypto";
import { join } from "node:path";
import { INVENTORY_DIR, validateName } from "./config.js";
import { LabError } from "./proc.js";

/** Labels of the robot at 1-based `position` in the list given to `lab inventory` (for `--select`). */
export function fleetLabels(position: number): Record<string, string> {
  return { index: String(position), parity: position % 2 === 0 ? "even" : "odd" };
}

export interface FleetMember {
  name: string;
  /** The robot's own inventory entry, as `up` wrote it (address, TLS files, serverName). */
  target: Record<string, unknown>;
}

/** One inventory for all members, in the given order, each target with its `labels`. */
export function fleetInventory(members: readonly FleetMember[]): string {
  if (members.length === 0) throw new LabError("inventory needs at least one robot name");
  const targets: Record<string, Record<string, unknown>> = {};
  members.forEach((m, i) => {
    validateName(m.name);
    if (targets[m.name] !== undefined) throw new LabError(`robot ${m.name} is named twice`);
    targets[m.name] = { ...m.target, labels: fleetLabels(i + 1) };
  });
  return `${JSON.stringify({ targets }, null, 2)}\n`;
}

/** Where the inventory of these robots (in this order) is written: a name that fits any list. */
export function fleetInventoryPath(names: readonly string[]): string {
  const digest = createHash("sha256").update(names.join("\n")).digest("hex").slice(0, 16);
  return join(INVENTORY_DIR, `fleet-${digest}.json`);
}

/**
 * Runs `work` on every item, at most `limit` at a time, in order of the list; settles all of them
 * (one failure does not stop the others) and returns the results in the list's order.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new LabError(`parallelism must be ≥ 1, not ${limit}`);
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        results[i] = { status: "fulfilled", value: await work(items[i] as T, i) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
