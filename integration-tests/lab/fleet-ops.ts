// Several lab robots at once: boot them (bounded parallelism), one inventory for them all, and the
// fail flag that makes one of them fail with the same closure as the others.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { FAIL_FLAG, FLEET_KEY_DIR, type LabRobot, robotPaths } from "./config.js";
import { fleetInventory, fleetInventoryPath, mapBounded } from "./fleet.js";
import { ensureFleetKey } from "./pki.js";
import { LabError } from "./proc.js";
import { labDown, labExec, labUp, type UpOptions } from "./robot.js";

export interface UpManyOptions extends UpOptions {
  /** Robots booting at once. Default 2 (CI has 2 cores; a boot is mostly waiting on systemd). */
  parallel?: number;
}

/** Boots every robot (or describes it if running); fails, naming each robot that did not come up. */
export async function labUpMany(names: readonly string[], opts: UpManyOptions = {}): Promise<LabRobot[]> {
  // Made once before the boots, so parallel ups do not race to create it.
  await ensureFleetKey(FLEET_KEY_DIR, opts);
  const settled = await mapBounded(names, opts.parallel ?? 2, (name) => labUp(name, opts));
  return settledOrThrow(names, settled, "up");
}

export async function labDownMany(names: readonly string[], opts: { parallel?: number } = {}): Promise<void> {
  settledOrThrow(names, await mapBounded(names, opts.parallel ?? 2, (name) => labDown(name)), "down");
}

function settledOrThrow<R>(names: readonly string[], settled: PromiseSettledResult<R>[], what: string): R[] {
  const failed = settled.flatMap((r, i) =>
    r.status === "rejected" ? [`${names[i]}: ${(r.reason as Error).message ?? String(r.reason)}`] : [],
  );
  if (failed.length > 0) {
    throw new LabError(
      `${what} failed for ${failed.length} of ${names.length}: ${failed.join("; ")}`.slice(0, 2000),
      {
        cause: settled.find((r) => r.status === "rejected")?.reason,
      },
    );
  }
  return settled.map((r) => (r as PromiseFulfilledResult<R>).value);
}

export interface FleetInventory {
  /** The inventory file: every robot, in the order given, with labels `index` (1-based) and `parity`. */
  inventory: string;
  /** The Nix secret key every lab robot trusts (sign a rollout's closure with it). */
  signingKey: string;
  targets: string[];
}

/** Writes one inventory holding the given robots (each must have been `up`). */
export async function labInventory(
  names: readonly string[],
  opts: { signal?: AbortSignal } = {},
): Promise<FleetInventory> {
  const members = names.map((name) => {
    let text: string;
    try {
      text = readFileSync(robotPaths(name).inventory, "utf8");
    } catch (e) {
      throw new LabError(`robot ${name} has no inventory: run up first`, { cause: e });
    }
    const target = (JSON.parse(text) as { targets: Record<string, Record<string, unknown>> }).targets[name];
    if (target === undefined) throw new LabError(`robot ${name}: its inventory lacks target ${name}`);
    return { name, target };
  });
  const file = fleetInventoryPath(names);
  mkdirSync(dirname(file), { recursive: true });
  const scratch = `${file}.tmp-${process.pid}`;
  writeFileSync(scratch, fleetInventory(members));
  renameSync(scratch, file);
  const fleet = await ensureFleetKey(FLEET_KEY_DIR, opts);
  return { inventory: file, signingKey: fleet.signingKey, targets: [...names] };
}

/**
 * Sets (or with `off` removes) the robot's fail flag. The talker of the `flag-*` systems falls
 * silent while it exists: for every such system, or only for `system` when given.
 */
export async function labFail(name: string, opts: { off?: boolean; system?: string } = {}): Promise<void> {
  if (opts.system !== undefined && !/^[a-z][a-z0-9-]{0,63}$/.test(opts.system)) {
    throw new LabError(`bad system name "${opts.system.slice(0, 80)}"`);
  }
  const argv = opts.off
    ? ["rm", "-f", FAIL_FLAG]
    : [
        "sh",
        "-c",
        'printf "%s" "$1" > "$2.tmp" && mv "$2.tmp" "$2"',
        "lab-fail",
        opts.system ?? "",
        FAIL_FLAG,
      ];
  const r = await labExec(name, argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new LabError(`robot ${name}: fail flag: ${r.stderr.trim().slice(0, 200)}`);
}
