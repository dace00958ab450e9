import {
  type Deployment,
  type DeploymentEvent,
  DeploymentKind,
  type Generation,
  type GetStatusResponse,
} from "@ros-rollback/proto";
import { actionName, stateName } from "./outcome.js";

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

export interface EventJson {
  readonly state: string;
  readonly time: string | null;
  readonly message: string;
  readonly exitCode: number | null;
  readonly generation: number | null;
  readonly previousGeneration: number | null;
  readonly final: boolean;
}

export function eventJson(e: DeploymentEvent): EventJson {
  return {
    state: stateName(e.state),
    time: isoTime(e.timestampUnixMs),
    message: e.message,
    exitCode: e.exitCode ?? null,
    generation: generationOrNull(e.generation),
    previousGeneration: generationOrNull(e.previousGeneration),
    final: e.final,
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
  };
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

/** "12:00:01 PROFILE_SET generation 43 (previous 42): message [exit 4]" — one stderr line per event. */
export function eventLine(e: DeploymentEvent): string {
  const time =
    e.timestampUnixMs > 0 ? `${new Date(e.timestampUnixMs).toISOString().slice(11, 19)}Z` : "--:--:--Z";
  const parts = [`${time} ${stateName(e.state)}`];
  if (e.generation > 0) {
    parts.push(
      ` generation ${e.generation}${e.previousGeneration > 0 ? ` (previous ${e.previousGeneration})` : ""}`,
    );
  }
  if (e.message !== "") parts.push(`: ${e.message}`);
  if (e.exitCode !== undefined) parts.push(` [exit ${e.exitCode}]`);
  return parts.join("");
}
