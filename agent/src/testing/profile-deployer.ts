import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { Deployer, type DeployerDeps } from "../deployment/deployer.js";
import { FileRecordStore } from "../deployment/record-file.js";
import { NixProfile } from "../generations/profile.js";
import type { HealthSpec } from "../health/spec.js";
import { ProcessRunner } from "../system/command.js";
import { FakeHealth, FakeSwitchRunner, type FakeSystemInspector, noData } from "./fakes.js";

// No vitest here: a bench process uses it too (through deploying-server-core.ts).

/** A system in the real Nix store whose switch-to-configuration does nothing; `tmp/name` is its source. */
export function addTestSystem(tmp: string, name: string): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, "bin"), { recursive: true });
  execFileSync("sh", ["-c", `printf '#!/bin/sh\\n' > ${dir}/bin/switch-to-configuration`]);
  return execFileSync("nix-store", ["--add", dir], { encoding: "utf8" }).trim();
}

export interface ProfileDeployerOptions {
  log: Logger;
  system: FakeSystemInspector;
  health: HealthSpec;
  holds?: DeployerDeps["holds"];
  switcher?: DeployerDeps["switcher"];
  activationTimeoutMs?: number;
}

/**
 * A Deployer over a real Nix profile at `tmp/profile/system` and a record file in `tmp/state`,
 * with fake switching and health, started (a record left in `tmp/state` is resumed).
 */
export async function startProfileDeployer(
  tmp: string,
  o: ProfileDeployerOptions,
): Promise<{ deployer: Deployer; profile: NixProfile }> {
  mkdirSync(join(tmp, "profile"), { recursive: true });
  const profile = new NixProfile(join(tmp, "profile", "system"), new ProcessRunner(), "nix-env");
  const deployer = new Deployer({
    holds: o.holds,
    profile,
    switcher: o.switcher ?? new FakeSwitchRunner(),
    records: new FileRecordStore(join(tmp, "state")),
    data: noData(join(tmp, "state")),
    system: o.system,
    clock: { now: () => Date.now() },
    log: o.log,
    health: new FakeHealth(),
    options: {
      activationTimeoutMs: o.activationTimeoutMs ?? 30_000,
      deleteFailedGenerations: true,
      defaults: { autoRollback: true, magicRollback: true, confirmTimeoutSeconds: 30, health: o.health },
    },
  });
  await deployer.start();
  return { deployer, profile };
}
