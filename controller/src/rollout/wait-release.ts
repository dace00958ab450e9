import { HELD_ERROR_CODE, type Hold } from "@ros-rollback/proto";
import type { AgentApi, AgentCallError } from "../agent-api.js";
import type { OptionSpec, RawArgs } from "../core/command.js";
import { asUserError, UsageError } from "../core/errors.js";
import type { Followed } from "../report/followed.js";
import { type HeldJson, holdsLine, MAX_LISTED } from "../report/holds.js";
import { formatSeconds, type HoldJson, holdJson } from "../report/views.js";

/** Between GetStatus polls while a robot is held. */
export const RELEASE_POLL_MS = 1_000;
/** The longest --wait-for-release (a day): a typo must not park a deploy for years. */
export const MAX_WAIT_FOR_RELEASE_SECONDS = 86_400;
const MAX_NAME = 64;
const MAX_REASON = 200;

/** How long a job may wait for a held robot's holds to go. */
export interface ReleaseWindow {
  /** The flag's value, for messages. */
  readonly seconds: number;
  /** The wait's deadline (io.now ms), given when the agent first refused because of holds. */
  until(firstRefusedAt: number): number;
  /** Asked before every poll and every new Activate; throws to give up (a rollout that aborted). */
  readonly proceed?: () => void;
}

/** deploy --wait-for-release SECONDS on one robot: the clock starts at the first refusal. */
export function releaseWindow(seconds: number | undefined): ReleaseWindow | undefined {
  return seconds === undefined ? undefined : { seconds, until: (t) => t + seconds * 1000 };
}

/** The agent refused the request because the robot is held (its HELD code, not the message), before any event. */
export function heldRefusal(f: Followed): AgentCallError | undefined {
  return f.events.length === 0 && f.end.kind === "error" && f.error?.agentCode === HELD_ERROR_CODE
    ? f.error
    : undefined;
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length <= max ? one : `${one.slice(0, max)}…`;
}

function bounded(h: Hold): HoldJson {
  const j = holdJson(h);
  return { ...j, name: clip(j.name, MAX_NAME), reason: clip(j.reason, MAX_REASON) };
}

const keyOf = (h: HoldJson) => `${h.source}/${h.name}`;

/**
 * One robot's holds as the controller sees them while it waits: prints a
 * line whenever the set of holds changes, remembers every hold seen.
 */
export class HeldRobot {
  private readonly seen = new Map<string, HoldJson>();
  private current: HoldJson[] = [];
  private shown: string | undefined;
  private firstAt: number | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly target: string,
    private readonly log: (line: string) => void,
    private readonly now: () => number,
  ) {}

  /** The agent refused because of holds; returns when that first happened. */
  refused(): number {
    this.firstAt ??= this.now();
    return this.firstAt;
  }

  /** The holds GetStatus reported; `waiting`: the words after "held" on the first line; `say`: print changes. */
  update(holds: readonly Hold[], waiting: string, say = true): void {
    this.lastError = undefined;
    this.current = holds.map(bounded);
    for (const h of this.current) this.seen.set(keyOf(h), h);
    const key = this.current.map((h) => `${keyOf(h)}:${h.reason}`).join("\n");
    if (key === this.shown || !say) return;
    const first = this.shown === undefined;
    this.shown = key;
    if (this.current.length === 0) {
      this.log(`${this.target}: released after ${formatSeconds(this.waitedSeconds())}`);
    } else {
      this.log(`${this.target}: ${first ? `held${waiting}` : "held"}: ${holdsLine(this.current)}`);
    }
  }

  /** A poll failed: said once per different error; the wait goes on. */
  pollFailed(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.log(`${this.target}: could not read the holds (${message}); still waiting`);
  }

  waitedSeconds(): number {
    return this.firstAt === undefined ? 0 : Math.max(0, Math.round((this.now() - this.firstAt) / 1000));
  }

  /** The holds now (last poll), as one bounded line. */
  describe(): string {
    return holdsLine(this.current.length > 0 ? this.current : [...this.seen.values()]);
  }

  json(released: boolean): HeldJson {
    return {
      holds: [...this.seen.values()].slice(0, MAX_LISTED),
      waitedSeconds: this.waitedSeconds(),
      released,
    };
  }
}

export interface WaitOptions {
  readonly now: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly signal: AbortSignal;
  /** Wait one poll interval before the first poll (the agent refused again right after a free poll). */
  readonly pauseFirst: boolean;
  readonly pollMs?: number;
  /** Asked before every poll; what it throws ends the wait (rethrown). */
  readonly proceed?: (() => void) | undefined;
}

/**
 * Polls GetStatus until no hold is left ("released"), the deadline passes
 * ("timeout") or the user interrupts. A failed poll is said and the wait
 * goes on (a network blip must not end a long wait); bugs and what
 * `proceed` throws are rethrown.
 */
export async function waitForRelease(
  api: AgentApi,
  held: HeldRobot,
  until: number,
  waiting: string,
  o: WaitOptions,
): Promise<"released" | "timeout" | "interrupted"> {
  const poll = o.pollMs ?? RELEASE_POLL_MS;
  const pause = async (): Promise<boolean> => {
    const left = until - o.now();
    if (left <= 0) return false;
    await o.sleep(Math.min(poll, left), o.signal);
    return true;
  };
  try {
    if (o.pauseFirst && !(await pause())) return "timeout";
    for (;;) {
      o.proceed?.();
      try {
        const status = await api.getStatus(o.signal);
        held.update(status.holds, waiting);
        if (status.holds.length === 0) return "released";
      } catch (e) {
        if (o.signal.aborted) return "interrupted";
        const user = asUserError(e);
        if (user === undefined) throw e;
        held.pollFailed(user.message);
      }
      if (!(await pause())) return "timeout";
    }
  } catch (e) {
    if (o.signal.aborted) return "interrupted";
    throw e;
  }
}

/** deploy's and `rollout resume`'s --wait-for-release. */
export const WAIT_FOR_RELEASE_OPTION: Readonly<Record<string, OptionSpec>> = {
  "wait-for-release": {
    type: "string",
    valueName: "SECONDS",
    description: [
      "when the robot is held (a mission, an operator's `hold`), wait up to SECONDS (whole, 1 to",
      `${MAX_WAIT_FOR_RELEASE_SECONDS}) for its holds to go, then deploy: the paths are transferred first, the holds`,
      "are printed whenever they change, the agent is asked every second. Still held at the end: exit 1,",
      "nothing changed. Several targets: held robots are skipped and retried after the last wave, all of",
      "them within SECONDS. Without it a held robot refuses the deploy (exit 1, naming its holds).",
    ].join("\n"),
  },
};

export function parseWaitForRelease(raw: RawArgs, command: string): number | undefined {
  const v = raw.values["wait-for-release"];
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^\d{1,6}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= MAX_WAIT_FOR_RELEASE_SECONDS)) {
    throw new UsageError(
      `--wait-for-release: expected whole seconds from 1 to ${MAX_WAIT_FOR_RELEASE_SECONDS}, got "${String(v).slice(0, 40)}"`,
      command,
    );
  }
  return n;
}
