import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../config/schema.js";
import type { Deployer } from "../deployment/deployer.js";
import type { SystemProfile } from "../generations/profile.js";
import type { CommandRunner } from "../system/command.js";
import { Collector, filesystemSpace } from "./collector.js";
import { readFacts } from "./facts.js";
import { gcMetrics } from "./metrics.js";
import { OutcomeLedger } from "./outcomes.js";
import { SystemdStoreGc } from "./store-gc.js";

/** The agent's garbage collection, wired for main.ts: collections follow kept and rolled-back deployments. */
export function createCollector(deps: {
  readonly config: Config;
  readonly deployer: Pick<Deployer, "latest" | "runYielding" | "subscribe">;
  readonly profile: SystemProfile;
  readonly runner: CommandRunner;
  readonly nixStore: string;
  readonly registry: Registry;
  readonly log: Logger;
}): Collector {
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
  return collector;
}
