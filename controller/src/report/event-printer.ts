import { terminalText } from "@ros-rollback/nix-core";
import { type DeploymentEvent, DeploymentState } from "@ros-rollback/proto";
import { stateName } from "./enum-names.js";
import {
  clockTime,
  eventLine,
  formatSeconds,
  healthKey,
  healthLine,
  unitChangesJson,
  unitChangesText,
} from "./views.js";

export interface EventPrinterOptions {
  readonly target: string;
  readonly sink: { write(text: string): void };
  readonly now: () => number;
  /**
   * true (watch on a TTY): keep a live status line with the countdown under
   * the printed lines, redrawn every second. false: plain lines only.
   */
  readonly live: boolean;
  /** Terminal width for the live line. */
  readonly columns: number;
  /** Plain countdown lines while awaiting confirmation: at most one per this interval. */
  readonly countdownEveryMs?: number;
}

/**
 * The agent's events as an operator reads them: one line per state, a health
 * line only when the verdict, phase or set of failing checks changes (not on
 * every round), and a countdown to the confirm deadline while the agent
 * waits for confirmation. Every stderr line of a command that follows a
 * deployment goes through `log()` here, so the live line never garbles them.
 */
export class EventPrinter {
  private lastState: DeploymentState | undefined;
  private lastId: string | undefined;
  private lastHealth: string | undefined;
  /** Unit-change lines already printed ("id/switch", "id/rollback"): each once. */
  private readonly unitsShown = new Set<string>();
  private deadline = 0;
  private lastCountdown = Number.NEGATIVE_INFINITY;
  private liveText = "";
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: EventPrinterOptions) {}

  event(e: DeploymentEvent): void {
    const { target } = this.o;
    if (e.deploymentId !== this.lastId || e.state !== this.lastState) {
      this.lastId = e.deploymentId;
      this.lastState = e.state;
      this.line(`${target}: ${eventLine(e)}`);
      this.lastCountdown = this.o.now();
    }
    if (e.health !== undefined) {
      const key = healthKey(e.health);
      if (key !== this.lastHealth) {
        this.lastHealth = key;
        this.line(`${target}: ${clockTime(e.timestampUnixMs)} health ${healthLine(e.health)}`);
      }
    }
    this.units(e, "switch", "units", e.unitChanges);
    this.units(e, "rollback", "rollback units", e.rollbackUnitChanges);
    const awaiting = e.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION && !e.final;
    this.deadline = awaiting ? e.confirmDeadlineUnixMs : 0;
    if (this.o.live) {
      this.liveText =
        e.final || e.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_REBOOT ? "" : this.status(e);
      this.redraw();
      this.tick(!e.final && this.liveText !== "");
    } else if (awaiting && this.deadline > 0) {
      const now = this.o.now();
      if (now - this.lastCountdown >= (this.o.countdownEveryMs ?? 10_000)) {
        this.lastCountdown = now;
        this.line(`${target}: ${this.countdown()}`);
      }
    }
  }

  /** What a switch did to units, once the agent reports it: one line per deployment and switch. */
  private units(e: DeploymentEvent, key: string, label: string, u: DeploymentEvent["unitChanges"]): void {
    const json = unitChangesJson(u);
    if (json === null || this.unitsShown.has(`${e.deploymentId}/${key}`)) return;
    this.unitsShown.add(`${e.deploymentId}/${key}`);
    this.line(`${this.o.target}: ${label}: ${unitChangesText(json)}`);
  }

  /** A line from the command (re-attaching, confirming) between the event lines. */
  log(line: string): void {
    this.line(line);
  }

  /** "awaiting confirmation: 17 s left (confirm by 12:00:39Z)", or "" when not waiting. */
  countdown(): string {
    if (this.deadline <= 0) return "";
    const left = Math.max(0, (this.deadline - this.o.now()) / 1000);
    return `awaiting confirmation: ${formatSeconds(Math.ceil(left))} left (confirm by ${clockTime(this.deadline)})`;
  }

  /** Ends the live line and stops its timer. */
  close(): void {
    this.tick(false);
    this.liveText = "";
    this.redraw();
  }

  private status(e: DeploymentEvent): string {
    const parts = [`${this.o.target}: ${stateName(e.state)}`];
    if (e.health !== undefined) parts.push(e.health.healthy ? "healthy" : "UNHEALTHY");
    const countdown = this.countdown();
    if (countdown !== "") parts.push(countdown);
    return parts.join(" · ");
  }

  private line(text: string): void {
    if (this.o.live && this.liveText !== "") this.o.sink.write("\r\x1b[2K");
    // Lines carry what the robot said: no escape sequence of its reaches the terminal.
    this.o.sink.write(`${terminalText(text)}\n`);
    if (this.o.live) this.redraw();
  }

  private redraw(): void {
    if (!this.o.live) return;
    const width = Math.max(20, (this.o.columns || 80) - 1);
    this.o.sink.write(`\r\x1b[2K${this.liveText.slice(0, width)}`);
  }

  private tick(on: boolean): void {
    if (on && this.timer === undefined) {
      this.timer = setInterval(() => {
        if (this.deadline <= 0) return;
        this.liveText = this.liveText.replace(/awaiting confirmation: .*$/, this.countdown());
        this.redraw();
      }, 1_000);
      this.timer.unref();
    } else if (!on && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
