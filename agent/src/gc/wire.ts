import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../config/schema.js";
import type { Deployer } from "../deployment/deployer.js";
import type { DeploymentRecord } from "../deployment/record.js";
import { isFinal } from "../deployment/states.js";
import type { SystemProfile } from "../generations/profile.js";
import type { StorePort } from "../store/store-port.js";
import type { CommandRunner } from "../system/command.js";
import { ensureBootSpace } from "./boot-space.js";
import { Collector, filesystemSpace } from "./collector.js";
import { readFacts } from "./facts.js";
import { RootFence } from "./fence.js";
import { FlockGcLock } from "./gc-lock.js";
import { gcMetrics } from "./metrics.js";
import { OutcomeLedger } from "./outcomes.js";
import type { GcPort, Space } from "./port.js";
import { PathRoots, rootingStore } from "./roots.js";
import { ensureSpace, type Reserve, reserveBytes, type SpaceCheckDeps } from "./space-check.js";
import { SystemdStoreGc } from "./store-gc.js";

/** The store as the server sees it: what a deployment asks about is rooted, behind the fence and Nix's GC lock. */
export function rootedStore<S extends StorePort & { validateStorePath: (p: string) => void }>(
  config: Config,
  inner: S,
  runner: CommandRunner,
  log: Logger,
): { store: S; roots: PathRoots; fence: RootFence } {
  const roots = new PathRoots(config.gc.rootsDir, () => Date.now());
  const fence = new RootFence();
  const lock = new FlockGcLock(runner, config.gc.lockFile, log);
  return { store: rootingStore(inner, roots, fence, lock), roots, fence };
}

/** The agent's garbage collection, wired for main.ts: collections follow kept and rolled-back deployments. */
export function createCollector(deps: {
  readonly config: Config;
  readonly deployer: Pick<Deployer, "latest" | "runYielding" | "subscribe">;
  readonly profile: SystemProfile;
  readonly runner: CommandRunner;
  readonly nixStore: string;
  readonly registry: Registry;
  readonly roots: PathRoots;
  readonly fence: RootFence;
  readonly log: Logger;
}): GcPort {
  const { config, deployer, log } = deps;
  const ledger = new OutcomeLedger(config.stateDir);
  const observer = gcMetrics(
    deps.registry,
    { store: config.storeDir, boot: config.gc.bootDir },
    filesystemSpace,
  );
  const collector = new Collector({
    policy: { keepGenerations: config.gc.keepGenerations },
    profile: deps.profile,
    facts: () =>
      readFacts({
        profile: deps.profile,
        bootedSystemLink: config.gc.bootedSystemLink,
        currentSystemLink: config.currentSystemLink,
        latest: () => deployer.latest(),
        ledger,
      }),
    storeGc: new SystemdStoreGc(deps.runner, deps.nixStore),
    fence: deps.fence,
    pruneRoots: async () => {
      await deps.roots.prune(rootsCutoff(deployer.latest(), Date.now()));
    },
    gate: deployer,
    timeoutSeconds: config.gc.timeoutSeconds,
    maxFreedBytes: config.gc.maxFreedMiB === undefined ? undefined : config.gc.maxFreedMiB * 1048576,
    now: () => Date.now(),
    log: log.child({ component: "gc" }),
    observer,
  });
  deployer.subscribe((r) => {
    // The outcome is on disk before the collection that reads it.
    ledger.record(r).then(
      () => {
        if (config.gc.enabled) collector.onDeployment(r);
      },
      (e: unknown) => log.warn({ err: e }, "could not record the generation's outcome"),
    );
  });
  return {
    collect: (dryRun) => collector.collect(dryRun),
    space: () => readSpace(config.storeDir, config.gc.bootDir, config.gc.reserve),
  };
}

/** The space check of pushes and substitutions (space-check.ts), collecting through `collector()` when enabled. */
export function spaceGuard(
  config: Config,
  collector: () => GcPort,
): (neededBytes: number, what: string) => Promise<void> {
  const deps: SpaceCheckDeps = {
    storeDir: config.storeDir,
    reserve: config.gc.reserve,
    space: filesystemSpace,
    collect: config.gc.enabled ? async () => (await collector().collect(false)).freedBytes : undefined,
  };
  return (needed, what) => ensureSpace(deps, needed, what);
}

/** The boot partition's check before an activation that installs a bootloader entry (boot-space.ts). */
export function bootGuard(config: Config, log: Logger): (system: string) => Promise<void> {
  const deps = {
    bootDir: config.gc.bootDir,
    reserveBytes: config.gc.bootReserveMiB * 1048576,
    space: filesystemSpace,
    log: log.child({ component: "boot-space" }),
  };
  return (system) => ensureBootSpace(deps, system);
}

async function readSpace(store: string, boot: string, reserve: Reserve): Promise<Space | undefined> {
  const [s, b] = await Promise.all([filesystemSpace(store), filesystemSpace(boot)]);
  if (s === undefined) return undefined;
  return {
    storeFreeBytes: s.free,
    storeSizeBytes: s.size,
    storeReserveBytes: reserveBytes(reserve, s.size),
    boot: b && { freeBytes: b.free, sizeBytes: b.size },
  };
}

/** Roots live a day at most. */
const ROOTS_TTL_MS = 24 * 3600_000;

/**
 * Roots made before the latest finished deployment started served it (or an older one): its
 * system is in the profile now, or was rolled back. Later ones may serve the next deployment.
 */
export function rootsCutoff(latest: DeploymentRecord | undefined, now: number): number {
  const ttl = now - ROOTS_TTL_MS;
  if (latest === undefined || !isFinal(latest.state)) return ttl;
  return Math.max(ttl, latest.startedAt);
}
