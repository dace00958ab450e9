import { setTimeout as sleep } from "node:timers/promises";
import { AgentError } from "../errors.js";
import { type CommandRunner, runChecked } from "./command.js";
import { askSystemd, type SystemdRetry } from "./systemd-retry.js";
import { parseInvocations, type UnitInvocations } from "./unit-changes.js";

export type SwitchAction = "switch" | "boot" | "test" | "dry-activate";

export interface SwitchUnitStatus {
  /** The unit does not exist: never started, or already cleaned up. */
  readonly exists: boolean;
  readonly running: boolean;
  /** Exit status of switch-to-configuration once it ended; negative when killed by a signal. */
  readonly exitCode: number | undefined;
  readonly detail: string;
}

/**
 * Runs `<system>/bin/switch-to-configuration` in its own transient systemd unit,
 * outside the agent's cgroup, so restarting or killing the agent (which a
 * switch may do to itself) cannot kill the switch.
 */
export interface SwitchRunner {
  start(unit: string, systemPath: string, action: SwitchAction, signal?: AbortSignal): Promise<void>;
  status(unit: string, signal?: AbortSignal): Promise<SwitchUnitStatus>;
  /** Last lines the switch printed, for error reports. */
  output(unit: string, lines: number): Promise<string>;
  cleanup(unit: string): Promise<void>;
  /** InvocationID of every active service: before and after a switch, it tells restarts apart. */
  invocations(signal?: AbortSignal): Promise<UnitInvocations>;
}

export class SystemdSwitchRunner implements SwitchRunner {
  constructor(
    private readonly runner: CommandRunner,
    private readonly pathForSwitch: string,
    /** status() and start() ask again when systemd drops the call (at the end of a boot). */
    private readonly retry: SystemdRetry,
  ) {}

  async start(unit: string, systemPath: string, action: SwitchAction, signal?: AbortSignal): Promise<void> {
    // No --collect: a collected unit forgets its exit status, and an agent that
    // restarted mid-switch must still be able to read it. RemainAfterExit keeps
    // a successful run visible as active/exited; cleanup() removes the unit.
    await askSystemd(
      this.runner,
      [
        "systemd-run",
        `--unit=${unit}`,
        `--description=ros-rollback: switch-to-configuration ${action}`,
        "--property=RemainAfterExit=yes",
        "--service-type=exec",
        "--no-ask-password",
        "--quiet",
        `--setenv=PATH=${this.pathForSwitch}`,
        "--setenv=LOCALE_ARCHIVE",
        "--setenv=NIXOS_INSTALL_BOOTLOADER",
        "--",
        `${systemPath}/bin/switch-to-configuration`,
        action,
      ],
      { signal, timeoutMs: 30_000 },
      this.retry,
      // systemd may have started the unit and lost the answer: then the unit's status tells the
      // rest, and running it again would only fail on the existing unit.
      () => this.exists(unit, signal),
    );
  }

  async status(unit: string, signal?: AbortSignal): Promise<SwitchUnitStatus> {
    const out = await askSystemd(this.runner, showUnit(unit), { signal, timeoutMs: 10_000 }, this.retry);
    return unitStatus(out);
  }

  /** One question, not asked again: unknown counts as absent, and systemd-run runs again. */
  private async exists(unit: string, signal?: AbortSignal): Promise<boolean> {
    const r = await this.runner.run(showUnit(unit), { signal, timeoutMs: 10_000 });
    return r.code === 0 && unitStatus(r.stdout).exists;
  }

  async output(unit: string, lines: number): Promise<string> {
    const r = await this.runner.run(
      ["journalctl", "--unit", unit, "-o", "cat", "-n", String(lines), "--no-pager"],
      {
        timeoutMs: 10_000,
      },
    );
    return r.stdout.trim();
  }

  async invocations(signal?: AbortSignal): Promise<UnitInvocations> {
    // One call (a pattern with --state) instead of list-units then show: it runs
    // between PROFILE_SET and ACTIVATING of every deploy (issue 13).
    const out = await runChecked(
      this.runner,
      [
        "systemctl",
        "show",
        "--type=service",
        "--state=active",
        "--property=Id,InvocationID",
        "--no-pager",
        "--",
        "*.service",
      ],
      { signal, timeoutMs: 10_000 },
    );
    return parseInvocations(out);
  }

  async cleanup(unit: string): Promise<void> {
    await this.runner.run(["systemctl", "stop", unit], { timeoutMs: 30_000 });
    await this.runner.run(["systemctl", "reset-failed", unit], { timeoutMs: 10_000 });
  }
}

function showUnit(unit: string): string[] {
  return [
    "systemctl",
    "show",
    unit,
    "--property=LoadState,ActiveState,SubState,Result,ExecMainStatus,ExecMainCode",
  ];
}

function unitStatus(show: string): SwitchUnitStatus {
  const p = parseProperties(show);
  if (p.LoadState === "not-found") {
    return { exists: false, running: false, exitCode: undefined, detail: "unit not found" };
  }
  const detail = `${p.ActiveState}/${p.SubState} result=${p.Result}`;
  const ended =
    (p.ActiveState === "active" && p.SubState === "exited") ||
    p.ActiveState === "failed" ||
    p.ActiveState === "inactive";
  if (!ended) return { exists: true, running: true, exitCode: undefined, detail };
  // ExecMainCode: 1 = exited (status is the exit code), 2/3 = killed/dumped (status is the signal).
  const status = Number(p.ExecMainStatus ?? "0");
  const exitCode = p.ExecMainCode === "1" || p.ExecMainCode === "0" ? status : -status;
  return { exists: true, running: false, exitCode, detail };
}

/** Polls until the switch unit has ended; returns its exit code. */
export async function waitForSwitch(
  switcher: SwitchRunner,
  unit: string,
  options: { timeoutMs: number; pollMs?: number; signal?: AbortSignal },
): Promise<number> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const s = await switcher.status(unit, options.signal);
    if (!s.exists) {
      throw new AgentError(
        "EXTERNAL_COMMAND_FAILED",
        `switch unit ${unit} vanished before reporting a result`,
      );
    }
    if (!s.running && s.exitCode !== undefined) return s.exitCode;
    if (Date.now() > deadline) {
      throw new AgentError(
        "TIMEOUT",
        `switch unit ${unit} still running after ${options.timeoutMs / 1000} s`,
      );
    }
    await sleep(options.pollMs ?? 200, undefined, { signal: options.signal });
  }
}

export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
