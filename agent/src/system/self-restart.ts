import { realpath } from "node:fs/promises";
import type { Logger } from "pino";
import type { DeploymentRecord } from "../deployment/record.js";
import { type CommandRunner, runChecked } from "./command.js";
import { askSystemd, type SystemdRetry } from "./systemd-retry.js";

/**
 * On NixOS the agent's unit has restartIfChanged = false, so a switch never
 * kills the agent mid-deployment. The price: a deployment that changes the
 * agent leaves the old agent running. So once such a deployment is kept, the
 * agent asks systemd to restart it — from a transient timer unit outside its
 * own cgroup, a moment later, after the confirmation has been answered.
 */
export class SelfRestart {
  private startedFrom: string | undefined;

  constructor(
    private readonly unit: string,
    private readonly runner: CommandRunner,
    private readonly log: Logger,
    /** The agent starts as systemd finishes a boot, when it may drop a call. */
    private readonly retry: SystemdRetry,
  ) {}

  /** Remembers which unit file (store path) this agent was started from. */
  async init(): Promise<void> {
    // Without systemd (development) there is nothing to restart: never fail the start for it.
    this.startedFrom = await this.unitFile().catch(() => undefined);
    this.log.debug({ unit: this.unit, unitFile: this.startedFrom }, "agent unit file at start");
  }

  /** Called on every deployment change; acts once a kept deployment changed the unit. */
  async onDeployment(r: DeploymentRecord): Promise<boolean> {
    if (r.kind !== "activate" || r.state !== "succeeded" || r.action === "boot") return false;
    if (this.startedFrom === undefined) return false;
    const now = await this.unitFile();
    if (now === undefined || now === this.startedFrom) return false;
    this.log.info(
      { deploymentId: r.id, from: this.startedFrom, to: now },
      "the kept deployment changed the agent's unit; restarting the agent",
    );
    await runChecked(
      this.runner,
      [
        "systemd-run",
        `--unit=ros-rollback-agent-restart-${r.id}`,
        "--on-active=2",
        "--collect",
        "--quiet",
        "systemctl",
        "restart",
        this.unit,
      ],
      { timeoutMs: 10_000 },
    );
    this.startedFrom = now;
    return true;
  }

  private async unitFile(): Promise<string | undefined> {
    const out = await askSystemd(
      this.runner,
      ["systemctl", "show", "--property=FragmentPath", "--value", this.unit],
      { timeoutMs: 10_000 },
      this.retry,
    );
    const path = out.trim();
    if (path === "") return undefined;
    // NixOS links units into the store: the resolved path changes exactly when the unit does.
    return realpath(path).catch(() => path);
  }
}
