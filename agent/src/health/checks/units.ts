import { AgentError } from "../../errors.js";
import type { CommandRunner } from "../../system/command.js";
import type { UnitSpec } from "../spec.js";

/** The properties of one unit that health depends on, as `systemctl show` prints them. */
export interface UnitState {
  readonly name: string;
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  readonly result: string;
  /** Automatic restarts (services only; undefined for other unit types). */
  readonly nRestarts: number | undefined;
  /** 0 when no main process. */
  readonly mainPid: number;
  /** When the unit last entered `active`; 0 when it never did. */
  readonly activeEnterMonotonic: number;
}

export const UNIT_PROPERTIES = [
  "Id",
  "LoadState",
  "ActiveState",
  "SubState",
  "Result",
  "NRestarts",
  "MainPID",
  "ActiveEnterTimestampMonotonic",
] as const;

/**
 * Reads all listed units in ONE bounded `systemctl show` call. systemctl
 * prints one block of KEY=value lines per unit, in argument order, separated
 * by a blank line; an unknown unit still gets a block (`LoadState=not-found`).
 */
export async function readUnits(
  runner: CommandRunner,
  names: readonly string[],
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<Map<string, UnitState>> {
  const out = new Map<string, UnitState>();
  if (names.length === 0) return out;
  const argv = ["systemctl", "show", `--property=${UNIT_PROPERTIES.join(",")}`, "--", ...names];
  const r = await runner.run(argv, { timeoutMs: options.timeoutMs, signal: options.signal });
  if (r.code !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-2).join(" | ");
    throw new AgentError("EXTERNAL_COMMAND_FAILED", `systemctl show exited ${r.code}: ${detail}`);
  }
  const blocks = r.stdout
    .split(/\n\s*\n/)
    .map((b) => b.trim())
    .filter((b) => b !== "");
  if (blocks.length !== names.length) {
    throw new AgentError(
      "EXTERNAL_COMMAND_FAILED",
      `systemctl show printed ${blocks.length} blocks for ${names.length} units`,
    );
  }
  names.forEach((name, i) => {
    out.set(name, parseUnitState(name, blocks[i] ?? ""));
  });
  return out;
}

export function parseUnitState(name: string, block: string): UnitState {
  const p = new Map<string, string>();
  for (const line of block.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) p.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const int = (key: string): number | undefined => {
    const v = p.get(key);
    if (v === undefined || v === "" || v === "[not set]") return undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  return {
    name,
    loadState: p.get("LoadState") ?? "unknown",
    activeState: p.get("ActiveState") ?? "unknown",
    subState: p.get("SubState") ?? "unknown",
    result: p.get("Result") ?? "",
    nRestarts: int("NRestarts"),
    mainPid: int("MainPID") ?? 0,
    activeEnterMonotonic: int("ActiveEnterTimestampMonotonic") ?? 0,
  };
}

export interface Verdict {
  readonly healthy: boolean;
  readonly reason: string;
}

/**
 * A unit is unhealthy when it is not loaded, failed, (if required) not
 * active, or restarted since `baseline` (the start of the current stable
 * window): NRestarts grew, or its main process or its last entry into
 * `active` changed. A first start after the baseline is not a restart.
 */
export function judgeUnit(spec: UnitSpec, s: UnitState, baseline: UnitState | undefined): Verdict {
  const name = `unit ${s.name}`;
  const state = `ActiveState=${s.activeState}, SubState=${s.subState}${s.result ? `, Result=${s.result}` : ""}`;
  if (s.loadState !== "loaded")
    return { healthy: false, reason: `${name} not loaded (LoadState=${s.loadState})` };
  if (s.activeState === "failed") return { healthy: false, reason: `${name} failed (Result=${s.result})` };
  if (spec.required && s.activeState !== "active")
    return { healthy: false, reason: `${name} not active (${state})` };
  if (s.activeState === "activating" && s.subState === "auto-restart")
    return { healthy: false, reason: `${name} is restarting (${state})` };
  if (baseline !== undefined) {
    if (s.nRestarts !== undefined && baseline.nRestarts !== undefined && s.nRestarts > baseline.nRestarts)
      return {
        healthy: false,
        reason: `${name} restarted ${s.nRestarts - baseline.nRestarts} time(s) during the window (NRestarts ${baseline.nRestarts} → ${s.nRestarts})`,
      };
    if (baseline.mainPid !== 0 && s.mainPid !== 0 && s.mainPid !== baseline.mainPid)
      return {
        healthy: false,
        reason: `${name} restarted during the window (MainPID ${baseline.mainPid} → ${s.mainPid})`,
      };
    if (
      baseline.activeEnterMonotonic !== 0 &&
      s.activeEnterMonotonic !== 0 &&
      s.activeEnterMonotonic !== baseline.activeEnterMonotonic
    )
      return { healthy: false, reason: `${name} restarted during the window (entered active again)` };
  }
  const restarts = s.nRestarts === undefined ? "" : `, NRestarts=${s.nRestarts}`;
  return { healthy: true, reason: `${name} ${s.activeState} (${s.subState}${restarts})` };
}

/** Failed units, from one bounded `systemctl list-units --state=failed`. */
export async function listFailedUnits(
  runner: CommandRunner,
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<string[]> {
  const r = await runner.run(
    ["systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager", "--full"],
    { timeoutMs: options.timeoutMs, signal: options.signal },
  );
  if (r.code !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-2).join(" | ");
    throw new AgentError("EXTERNAL_COMMAND_FAILED", `systemctl list-units exited ${r.code}: ${detail}`);
  }
  return parseFailedUnits(r.stdout);
}

/** `--plain --no-legend` lines: `UNIT LOAD ACTIVE SUB DESCRIPTION…`; older systemd may still print a `●` first. */
export function parseFailedUnits(stdout: string): string[] {
  const units: string[] = [];
  for (const line of stdout.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const first = fields[0] === "●" || fields[0] === "*" ? fields[1] : fields[0];
    if (first !== undefined && first !== "") units.push(first);
  }
  return units;
}

/** `*` matches any run of characters; everything else is literal. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
  return re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

export function judgeFailedUnits(
  failed: readonly string[],
  ignore: readonly string[],
  listed: readonly string[],
): Verdict {
  const counted = failed.filter((u) => !listed.includes(u) && !ignore.some((p) => globMatch(p, u)));
  if (counted.length === 0) {
    const ignored = failed.length > 0 ? ` (${failed.length} ignored or checked on their own)` : "";
    return { healthy: true, reason: `no failed units${ignored}` };
  }
  return { healthy: false, reason: `failed units: ${counted.join(", ")}` };
}
