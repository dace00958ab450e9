import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { FsDataStore } from "../data/store.js";
import type { DataEntry } from "../data/types.js";
import { Deployer, type DeployerDeps, type DeployerOptions } from "../deployment/deployer.js";
import type { DeploymentRecord } from "../deployment/record.js";
import { FileRecordStore } from "../deployment/record-file.js";
import type { DeployRequest } from "../deployment/request.js";
import { type DeploymentState, isFinal } from "../deployment/states.js";
import { NixProfile } from "../generations/profile.js";
import { compileHealthConfig, type HealthSpec } from "../health/index.js";
import { ProcessRunner } from "../system/command.js";
import type { SwitchAction } from "../system/switcher.js";
import { FakeHealth, FakeSwitchRunner, FakeSystemInspector, FakeUnits } from "./fakes.js";

/** Keeps a deployment as soon as it is healthy, so tests of activation need no Confirm. */
export const SELF: DeployRequest = { selfConfirm: true };

export const TEST_HEALTH = compileHealthConfig({
  settleSeconds: 0,
  stableSeconds: 1,
  timeoutSeconds: 2,
  intervalSeconds: 0.02,
});

export interface Rig {
  deployer: Deployer;
  health: FakeHealth;
  profile: NixProfile;
  switcher: FakeSwitchRunner;
  system: FakeSystemInspector;
  records: FileRecordStore;
  /** Where the record files live. */
  stateDir: string;
  seen: DeploymentRecord[];
  data: FsDataStore;
  units: FakeUnits;
}

export interface RigOptions {
  autoRollback?: boolean;
  magicRollback?: boolean;
  health?: FakeHealth;
  /** The agent's configured health spec (default TEST_HEALTH). */
  healthSpec?: HealthSpec;
  /** Reuse a robot's inspector (e.g. to simulate a reboot: same systems, new boot id). */
  system?: FakeSystemInspector;
  /** Reuse a robot's switch runner (e.g. to resume with the units it ran before a restart). */
  switcher?: FakeSwitchRunner;
  /** Declared data (default none). */
  data?: DataEntry[];
  keep?: number;
  migrateTimeoutMs?: number;
  reserveBytes?: number;
  /** What admission asks about holds (default: none). */
  holds?: DeployerDeps["holds"];
  /** The boot partition's check (default: none). */
  bootSpace?: DeployerDeps["bootSpace"];
  /** Boot counting ports (default none: counting off). */
  boot?: DeployerDeps["boot"];
}

/**
 * A deployer over a REAL nix-env profile in a temp dir and real tiny store
 * paths; only switch-to-configuration, health and /run/current-system are fakes.
 */
export class DeployerLab {
  private tmp = "";
  private readonly systems: Record<string, string> = {};
  private readonly log = pino({ level: "silent" });
  private readonly deployers: Deployer[] = [];

  async setup(): Promise<void> {
    process.env.NIX_CONFIG = "build-users-group =";
    this.tmp = await mkdtemp(join(tmpdir(), "rr-deployer-"));
    for (const n of ["sys-a", "sys-b", "sys-broken", "sys-reboot"]) {
      this.systems[n] = this.addToStore(`${n}-${process.pid}-${Date.now()}`);
    }
  }

  async teardown(): Promise<void> {
    await Promise.all(this.deployers.map((d) => d.close()));
    await rm(this.tmp, { recursive: true, force: true });
  }

  sys(n: string): string {
    const p = this.systems[n];
    if (p === undefined) throw new Error(n);
    return p;
  }

  async rig(name: string, o: RigOptions = {}): Promise<Rig> {
    const system = o.system ?? new FakeSystemInspector();
    for (const p of Object.values(this.systems)) system.systems.add(p);
    const exitCodes = new Map([
      [this.sys("sys-broken"), 4],
      [this.sys("sys-reboot"), 100],
    ]);
    const switcher =
      o.switcher ??
      new FakeSwitchRunner(exitCodes, (path, action: SwitchAction, code) => {
        if (code === 0 && (action === "switch" || action === "test")) system.running = path;
      });
    execFileSync("mkdir", ["-p", join(this.tmp, name, "profile")]);
    const profile = new NixProfile(join(this.tmp, name, "profile", "system"), new ProcessRunner(), "nix-env");
    const stateDir = join(this.tmp, name, "state");
    const records = new FileRecordStore(stateDir);
    const health = o.health ?? new FakeHealth();
    const options: DeployerOptions = {
      activationTimeoutMs: 5_000,
      deleteFailedGenerations: true,
      defaults: {
        autoRollback: o.autoRollback ?? true,
        magicRollback: o.magicRollback ?? true,
        confirmTimeoutSeconds: 30,
        health: o.healthSpec ?? TEST_HEALTH,
      },
    };
    const units = new FakeUnits();
    const data = new FsDataStore(new ProcessRunner(), units, {
      stateDir,
      holdDir: join(stateDir, "holds"),
      entries: o.data ?? [],
      keep: o.keep ?? 2,
      migrateTimeoutMs: o.migrateTimeoutMs ?? 5_000,
      reserveBytes: o.reserveBytes ?? 0,
    });
    const deployer = new Deployer({
      profile,
      data,
      switcher,
      records,
      system,
      clock: { now: () => Date.now() },
      log: this.log,
      health,
      options,
      holds: o.holds,
      bootSpace: o.bootSpace,
      boot: o.boot,
    });
    this.deployers.push(deployer);
    const seen: DeploymentRecord[] = [];
    deployer.subscribe((r) => seen.push(r));
    await deployer.start();
    return { deployer, health, profile, switcher, system, records, stateDir, seen, data, units };
  }

  /** Adds a system with extra files (e.g. `ros-rollback/migrate`, mode 755) under the name n. */
  addSystem(n: string, files: Record<string, string>): string {
    const path = this.addToStore(`${n}-${process.pid}-${Date.now()}`, files);
    this.systems[n] = path;
    return path;
  }

  private addToStore(name: string, files: Record<string, string> = {}): string {
    const dir = join(this.tmp, name);
    execFileSync("mkdir", ["-p", join(dir, "bin")]);
    for (const [f, text] of Object.entries(files)) {
      execFileSync("mkdir", ["-p", join(dir, f, "..")]);
      writeFileSync(join(dir, f), text, { mode: 0o755 });
    }
    execFileSync("sh", [
      "-c",
      `echo '#!/bin/sh' > ${dir}/bin/switch-to-configuration; echo ${name} >> ${dir}/bin/switch-to-configuration`,
    ]);
    return execFileSync("nix-store", ["--add", dir], { encoding: "utf8" }).trim();
  }
}

/** Polls until the deployment reaches a state (by default, a final one). */
export async function until(
  d: Deployer,
  id: string,
  state?: DeploymentState,
  timeoutMs = 5_000,
): Promise<DeploymentRecord> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = d.latest();
    if (r?.id === id && (state === undefined ? isFinal(r.state) : r.state === state)) return r;
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(`deployment ${id} did not reach ${state ?? "a final state"}; it is ${d.latest()?.state}`);
}
