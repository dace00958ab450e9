import { printable } from "@ros-rollback/nix-core";
import {
  type DataSnapshot,
  type Deployment,
  type DeploymentEvent,
  DeploymentKind,
  type Generation,
  type GetStatusResponse,
  type HealthReport,
  type Hold,
  HoldSource,
  type UnitChanges,
} from "@ros-rollback/proto";
import { actionName, rollbackReasonName, rollbackReasonText, stateName } from "./enum-names.js";

/** ISO 8601, or null for 0/unset timestamps. */
export function isoTime(unixMs: number): string | null {
  return unixMs > 0 ? new Date(unixMs).toISOString() : null;
}

/** Proto uses 0 for "no generation"; JSON says null. */
export function generationOrNull(n: number): number | null {
  return n > 0 ? n : null;
}

export function kindName(kind: DeploymentKind): string {
  switch (kind) {
    case DeploymentKind.DEPLOYMENT_KIND_ACTIVATE:
      return "activate";
    case DeploymentKind.DEPLOYMENT_KIND_ROLLBACK:
      return "rollback";
    default:
      return "unspecified";
  }
}

/** What a switch did to units; null when the agent does not know (not run yet, or an older agent). */
export function unitChangesJson(u: UnitChanges | undefined) {
  if (u === undefined || !u.known) return null;
  return { stopped: u.stopped, started: u.started, restarted: u.restarted, reloaded: u.reloaded };
}

export type UnitChangesJson = NonNullable<ReturnType<typeof unitChangesJson>>;

/** "restarted: a.service, b.service; started: c.service" or "no unit changed". */
export function unitChangesText(u: UnitChangesJson): string {
  const parts = (["stopped", "started", "restarted", "reloaded"] as const)
    .filter((k) => u[k].length > 0)
    .map((k) => `${k}: ${u[k].join(", ")}`);
  return parts.length === 0 ? "no unit changed" : parts.join("; ");
}

const HOLD_SOURCES: Readonly<Record<HoldSource, string>> = {
  [HoldSource.HOLD_SOURCE_UNSPECIFIED]: "unspecified",
  [HoldSource.HOLD_SOURCE_COMMAND]: "command",
  [HoldSource.HOLD_SOURCE_FILE]: "file",
  [HoldSource.HOLD_SOURCE_CONDITION]: "condition",
  [HoldSource.UNRECOGNIZED]: "unrecognized",
};

/** A hold's name and reason come from robot software and people: bounded and escaped before any output. */
const MAX_HOLD_NAME = 256;
const MAX_HOLD_REASON = 200;
/** The agent bounds it at about 330 characters; the CLI does not trust that. */
const MAX_STARTED_BY = 400;
const shown = (text: string, max: number): string =>
  printable(text.length <= max ? text : `${text.slice(0, max)}…`);

export function holdJson(h: Hold) {
  return {
    name: shown(h.name, MAX_HOLD_NAME),
    source: HOLD_SOURCES[h.source] ?? "unrecognized",
    reason: shown(h.reason, MAX_HOLD_REASON),
    since: isoTime(h.sinceUnixMs),
    expiresAt: isoTime(h.expiresAtUnixMs),
  };
}

export type HoldJson = ReturnType<typeof holdJson>;

export function holdText(h: HoldJson): string {
  return `${h.source} hold "${h.name}": ${h.reason}${h.expiresAt === null ? "" : ` (until ${h.expiresAt})`}`;
}

export interface CheckJson {
  readonly id: string;
  readonly kind: string;
  readonly healthy: boolean;
  readonly reason: string;
  readonly durationMs: number;
}

export interface HealthJson {
  readonly healthy: boolean;
  readonly reason: string;
  readonly phase: string;
  readonly at: string | null;
  readonly stableForSeconds: number;
  readonly checks: readonly CheckJson[];
}

export function healthJson(h: HealthReport): HealthJson {
  return {
    healthy: h.healthy,
    reason: h.reason,
    phase: h.phase,
    at: isoTime(h.atUnixMs),
    stableForSeconds: h.stableForSeconds,
    checks: h.checks.map((c) => ({
      id: c.id,
      kind: c.kind,
      healthy: c.healthy,
      reason: c.reason,
      durationMs: c.durationMs,
    })),
  };
}

export interface EventJson {
  readonly deploymentId: string;
  readonly state: string;
  readonly time: string | null;
  readonly message: string;
  readonly exitCode: number | null;
  readonly generation: number | null;
  readonly previousGeneration: number | null;
  readonly final: boolean;
  readonly health: HealthJson | null;
  /** While awaiting confirmation: the agent's deadline for Confirm. */
  readonly confirmDeadline: string | null;
  readonly rollbackReason: string | null;
  readonly unitChanges: UnitChangesJson | null;
  readonly rollbackUnitChanges: UnitChangesJson | null;
}

export function eventJson(e: DeploymentEvent): EventJson {
  return {
    deploymentId: e.deploymentId,
    state: stateName(e.state),
    time: isoTime(e.timestampUnixMs),
    message: e.message,
    exitCode: e.exitCode ?? null,
    generation: generationOrNull(e.generation),
    previousGeneration: generationOrNull(e.previousGeneration),
    final: e.final,
    health: e.health === undefined ? null : healthJson(e.health),
    confirmDeadline: isoTime(e.confirmDeadlineUnixMs),
    rollbackReason: rollbackReasonName(e.rollbackReason),
    unitChanges: unitChangesJson(e.unitChanges),
    rollbackUnitChanges: unitChangesJson(e.rollbackUnitChanges),
  };
}

export function deploymentJson(d: Deployment) {
  return {
    id: d.id,
    kind: kindName(d.kind),
    state: stateName(d.state),
    action: actionName(d.action),
    storePath: d.storePath,
    generation: generationOrNull(d.generation),
    previousGeneration: generationOrNull(d.previousGeneration),
    previousStorePath: d.previousStorePath === "" ? null : d.previousStorePath,
    startedAt: isoTime(d.startedAtUnixMs),
    updatedAt: isoTime(d.updatedAtUnixMs),
    message: d.message,
    confirmDeadline: isoTime(d.confirmDeadlineUnixMs),
    rollbackReason: rollbackReasonName(d.rollbackReason),
    /** The deploy's opaque label (a fleet rollout's id and strategy), or null. */
    label: d.options === undefined || d.options.label === "" ? null : d.options.label,
    /** Holds the request went ahead despite (--override-hold), as the agent recorded them. */
    overriddenHolds: [...d.overriddenHolds],
    /** Who started it (client certificate subject and fingerprint head), or null when unknown. */
    startedBy: d.startedBy === "" ? null : shown(d.startedBy, MAX_STARTED_BY),
    /** Declared data captured before the switch, and data this deployment put back. */
    snapshots: d.snapshots.map(snapshotJson),
    restores: d.restores.map(snapshotJson),
    /** What the switch did to units (null until it ran). */
    unitChanges: unitChangesJson(d.unitChanges),
    /** What the rollback's switch did, when the deployment rolled back. */
    rollbackUnitChanges: unitChangesJson(d.rollbackUnitChanges),
  };
}

export function snapshotJson(s: DataSnapshot) {
  return {
    path: s.path,
    method: s.method,
    location: s.location,
    sizeBytes: s.sizeBytes,
    state: s.state,
    units: s.units,
    absent: s.absent,
  };
}

/** "/var/lib/db copy 1.2 MiB captured at /var/lib/ros-rollback/snapshots/…" */
export function snapshotLine(s: ReturnType<typeof snapshotJson>): string {
  const what = s.absent ? "did not exist" : `${s.method} ${(s.sizeBytes / 1048576).toFixed(1)} MiB`;
  return `${s.path} ${what} ${s.state} at ${s.location}`;
}

export function statusJson(target: string, s: GetStatusResponse) {
  return {
    target,
    hostname: s.hostname,
    agentVersion: s.agentVersion,
    currentSystem: s.currentSystem,
    currentGeneration: generationOrNull(s.currentGeneration),
    profileSystem: s.profileSystem,
    /** false when the running system is not the profile's current generation (after `boot`, `test`, or a failure). */
    runningProfileSystem: s.currentSystem !== "" && s.currentSystem === s.profileSystem,
    deployment: s.deployment === undefined ? null : deploymentJson(s.deployment),
    lastDeployment: s.lastDeployment === undefined ? null : deploymentJson(s.lastDeployment),
    /** The agent's latest health report (from a deployment or a `health` call). */
    health: s.health === undefined ? null : healthJson(s.health),
    /** Active holds: while there is one, the robot refuses deploys and rollbacks from controllers. */
    holds: s.holds.map(holdJson),
    /** Free space of the store's and /boot's filesystems (null: the agent did not say). */
    space: s.space ?? null,
  };
}

export function generationJson(g: Generation) {
  return {
    generation: g.number,
    storePath: g.storePath,
    current: g.current,
    createdAt: isoTime(g.createdAtUnixMs),
  };
}

/** "12:00:01Z" (UTC, like the agent's logs); "--:--:--Z" for 0. */
export function clockTime(unixMs: number): string {
  return unixMs > 0 ? `${new Date(unixMs).toISOString().slice(11, 19)}Z` : "--:--:--Z";
}

/**
 * "12:00:01Z PROFILE_SET generation 43 (previous 42): message [exit 4]" — one
 * stderr line per state; plus "confirm by 12:00:31Z" while awaiting
 * confirmation and "(rollback reason: not confirmed)" when rolled back.
 */
export function eventLine(e: DeploymentEvent): string {
  const parts = [`${clockTime(e.timestampUnixMs)} ${stateName(e.state)}`];
  if (e.generation > 0) {
    parts.push(
      ` generation ${e.generation}${e.previousGeneration > 0 ? ` (previous ${e.previousGeneration})` : ""}`,
    );
  }
  if (e.confirmDeadlineUnixMs > 0) parts.push(` confirm by ${clockTime(e.confirmDeadlineUnixMs)}`);
  const why = rollbackReasonText(e.rollbackReason);
  if (why !== undefined) parts.push(` (rollback reason: ${why})`);
  if (e.message !== "") parts.push(`: ${e.message}`);
  if (e.exitCode !== undefined) parts.push(` [exit ${e.exitCode}]`);
  return parts.join("");
}

/**
 * One health round in a line: "checking: 1 of 3 checks failing: unit:talker.service: unit
 * talker.service failed (Result=exit-code)" or "monitoring: healthy (3 checks, stable for 12 s)".
 */
export function healthLine(h: HealthReport): string {
  const phase = h.phase === "" ? "" : `${h.phase}: `;
  const failing = h.checks.filter((c) => !c.healthy);
  if (h.healthy) {
    const stable = h.stableForSeconds > 0 ? `, stable for ${formatSeconds(h.stableForSeconds)}` : "";
    return `${phase}healthy (${h.checks.length} check${h.checks.length === 1 ? "" : "s"}${stable})`;
  }
  if (failing.length === 0) return `${phase}unhealthy: ${h.reason || "(no reason given)"}`;
  const list = failing.map((c) => `${c.id}: ${c.reason || "failing"}`).join("; ");
  return `${phase}${failing.length} of ${h.checks.length} checks failing: ${list}`;
}

/** What makes two health rounds "the same" for printing only changes: verdict, phase, failing checks. */
export function healthKey(h: HealthReport): string {
  const failing = h.checks
    .filter((c) => !c.healthy)
    .map((c) => c.id)
    .sort();
  return `${h.healthy}|${h.phase}|${failing.join(",")}`;
}

/** "12 s", "1.5 s", "2:05". */
export function formatSeconds(seconds: number): string {
  if (seconds >= 120) {
    const s = Math.round(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  return seconds < 10 ? `${Math.round(seconds * 10) / 10} s` : `${Math.round(seconds)} s`;
}
