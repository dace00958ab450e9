import { join } from "node:path";
import { FsDataStore } from "../data/store.js";
import type { UnitControl } from "../data/types.js";
import type { HealthPort, SystemInspector } from "../deployment/ports.js";
import type { HealthMonitor, HealthOutcome, HealthReport, HealthSpec } from "../health/index.js";
import { ProcessRunner } from "../system/command.js";
import type { SwitchAction, SwitchRunner, SwitchUnitStatus } from "../system/switcher.js";

/** A switch runner whose units finish at once with the exit code configured per system. */
export class FakeSwitchRunner implements SwitchRunner {
  readonly started: { unit: string; systemPath: string; action: SwitchAction }[] = [];
  readonly cleaned: string[] = [];
  private readonly units = new Map<string, number>();
  private readonly systemOf = new Map<string, string>();
  /** What switch-to-configuration "prints" when switching to a system. */
  readonly outputs = new Map<string, string>();
  /** What `invocations()` answers; a test changes it to simulate restarts. */
  invocationsNow: Record<string, string> = {};
  /** Called as a switch to a system ends (e.g. to give restarted units new invocations). */
  onSwitched: (systemPath: string) => void = () => {};

  constructor(
    private readonly exitCodes: ReadonlyMap<string, number> = new Map(),
    /** Called when a unit starts, e.g. to move the fake running system. */
    private readonly onStart: (systemPath: string, action: SwitchAction, exitCode: number) => void = () => {},
  ) {}

  async start(unit: string, systemPath: string, action: SwitchAction): Promise<void> {
    if (this.units.has(unit)) throw new Error(`unit ${unit} already exists`);
    this.started.push({ unit, systemPath, action });
    const code = this.exitCodes.get(systemPath) ?? 0;
    this.units.set(unit, code);
    this.systemOf.set(unit, systemPath);
    this.onStart(systemPath, action, code);
    this.onSwitched(systemPath);
  }

  async status(unit: string): Promise<SwitchUnitStatus> {
    const code = this.units.get(unit);
    if (code === undefined)
      return { exists: false, running: false, exitCode: undefined, detail: "not found" };
    return { exists: true, running: false, exitCode: code, detail: "ended" };
  }

  async output(unit: string): Promise<string> {
    return this.outputs.get(this.systemOf.get(unit) ?? "") ?? "fake output";
  }

  async invocations(): Promise<Record<string, string>> {
    return { ...this.invocationsNow };
  }

  async cleanup(unit: string): Promise<void> {
    this.cleaned.push(unit);
    this.units.delete(unit);
  }
}

export class FakeSystemInspector implements SystemInspector {
  running: string | undefined;
  lockHeld = false;
  readonly systems = new Set<string>();
  /** How often runningSystem was asked. */
  runningAsked = 0;

  async runningSystem(): Promise<string | undefined> {
    this.runningAsked++;
    return this.running;
  }

  async assertSystem(storePath: string): Promise<void> {
    if (!this.systems.has(storePath)) throw new Error(`fake: ${storePath} is not a system`);
  }

  async switchLockHeld(): Promise<boolean> {
    return this.lockHeld;
  }

  boot = "boot-1";

  async bootId(): Promise<string> {
    return this.boot;
  }
}

/** Health that answers from a script: each evaluate/snapshot takes the next verdict (the last repeats). */
export class FakeHealth implements HealthPort {
  evaluations = 0;
  snapshots = 0;
  failed: string[] = [];

  constructor(
    public evaluateVerdicts: boolean[] = [true],
    public snapshotVerdicts: boolean[] = [true],
  ) {}

  async evaluate(_spec: HealthSpec, onReport: (r: HealthReport) => void): Promise<HealthOutcome> {
    const healthy = pick(this.evaluateVerdicts, this.evaluations++);
    const report = fakeReport(healthy, "checking");
    onReport(report);
    return { healthy, reason: report.reason, report };
  }

  monitor(): HealthMonitor {
    return { round: async () => fakeReport(pick(this.snapshotVerdicts, this.snapshots++), "checking") };
  }

  async failedUnits(): Promise<string[]> {
    return this.failed;
  }
}

function pick(list: boolean[], i: number): boolean {
  return list[Math.min(i, list.length - 1)] ?? true;
}

function fakeReport(healthy: boolean, phase: HealthReport["phase"]): HealthReport {
  return {
    round: 1,
    phase,
    elapsedSeconds: 0,
    healthy,
    stableForSeconds: healthy ? 1 : 0,
    results: [
      {
        id: "unit:talker.service",
        kind: "unit",
        healthy,
        reason: healthy ? "active/running" : "unit talker.service failed (Result=exit-code)",
        durationMs: 1,
      },
    ],
    reason: healthy ? "" : "unit talker.service failed (Result=exit-code)",
  };
}

/** Records stop/start calls; `running` is what a real systemd would have active. */
export class FakeUnits implements UnitControl {
  readonly calls: string[] = [];
  readonly running = new Set<string>();

  async stop(units: readonly string[]): Promise<void> {
    for (const u of units) {
      this.calls.push(`stop ${u}`);
      this.running.delete(u);
    }
  }

  async start(units: readonly string[]): Promise<void> {
    for (const u of units) {
      this.calls.push(`start ${u}`);
      this.running.add(u);
    }
  }
}

/** A real data store with nothing declared: for tests that do not look at data. */
export function noData(stateDir: string): FsDataStore {
  return new FsDataStore(new ProcessRunner(), new FakeUnits(), {
    stateDir,
    holdDir: join(stateDir, "holds"),
    entries: [],
    keep: 2,
    migrateTimeoutMs: 5_000,
    reserveBytes: 0,
  });
}
