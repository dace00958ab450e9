import { defineCommand } from "../context/command.js";
import { expectPositionals } from "../core/args.js";
import type { CommandResult } from "../core/command.js";
import { ExitCode } from "../core/errors.js";
import { type RelayView, relayLine, relayStates } from "../relay/fleet-states.js";
import { holdText, snapshotLine, statusJson, unitChangesText } from "../report/views.js";
import { isSingle } from "../targets/selection.js";
import { answersResult, askEachTarget } from "./each-target.js";
import { spaceText } from "./space.js";

type Status = ReturnType<typeof statusJson>;
type DeploymentView = NonNullable<Status["deployment"]>;

export const statusCommand = defineCommand<Record<string, never>>({
  name: "status",
  summary: "show what the robot runs and the current/last deployment",
  description:
    "Read-only. `runningProfileSystem: false` means the running system is not the profile's current\n" +
    "generation (after `boot` or `test`, or a failed switch). Shows the confirm deadline of a deployment\n" +
    "awaiting confirmation, why the last one was rolled back, and the agent's latest health report.",
  positionals: [],
  options: {},
  examples: [
    "ros-rollback status --inventory fleet.json --target robot1 --json",
    "ros-rollback status --select site=lab   # several robots: a JSON array, one entry each",
  ],
  multiTarget: true,
  parse(raw) {
    expectPositionals(raw, [], "status");
    return {};
  },
  async run(_args, ctx) {
    if (!isSingle(ctx.selection)) {
      // Robots behind relays: whether each is connected, and since when, beside its answer.
      const [answers, relays] = await Promise.all([
        askEachTarget(ctx, async (api) => statusJson(api.target.name, await api.getStatus(ctx.signal))),
        ctx.selectTargets().then((ts) => relayStates(ts, ctx.global.connectTimeoutMs)),
      ]);
      return withRelays(
        answersResult(answers, (_, s) => s, statusText),
        relays,
      );
    }
    const api = await ctx.connect();
    try {
      const status = statusJson(api.target.name, await api.getStatus(ctx.signal));
      return { exitCode: ExitCode.Ok, json: status, human: statusText(status) };
    } finally {
      api.close();
    }
  },
});

/** Adds `relay` to each JSON entry (and a line to each block) of a target routed through a relay. */
function withRelays(result: CommandResult, relays: ReadonlyMap<string, RelayView>): CommandResult {
  if (relays.size === 0 || !Array.isArray(result.json)) return result;
  const json = (result.json as { target: string }[]).map((e) => {
    const relay = relays.get(e.target);
    return relay === undefined ? e : { ...e, relay };
  });
  const human = result.human
    .split(/(?=^== )/m)
    .map((block) => {
      const name = /^== (.*) ==$/m.exec(block)?.[1];
      const relay = name === undefined ? undefined : relays.get(name);
      return relay === undefined ? block : block.replace(/\n/, `\n${relayLine(relay)}\n`);
    })
    .join("");
  return { ...result, json, human };
}

function deploymentText(label: string, d: DeploymentView): string[] {
  return [
    `${label}: ${d.id} ${d.kind} ${d.action} → ${d.state}${d.message === "" ? "" : `: ${d.message}`}`,
    `  store path:  ${d.storePath}`,
    `  generation:  ${d.generation ?? "-"} (previous ${d.previousGeneration ?? "-"})`,
    `  started:     ${d.startedAt ?? "-"}   updated: ${d.updatedAt ?? "-"}`,
    ...(d.confirmDeadline === null ? [] : [`  confirm by:  ${d.confirmDeadline}`]),
    ...(d.rollbackReason === null ? [] : [`  rolled back: ${d.rollbackReason}`]),
    ...(d.startedBy === null ? [] : [`  started by:  ${d.startedBy}`]),
    ...(d.label === null ? [] : [`  label:       ${d.label}`]),
    ...(d.overriddenHolds.length === 0
      ? []
      : [
          `  overrode:    hold(s) ${d.overriddenHolds.map((n) => (n.length > 64 ? `${n.slice(0, 64)}…` : n)).join(", ")}`,
        ]),
    ...d.snapshots.map((x) => `  snapshot:    ${snapshotLine(x)}`),
    ...d.restores.map((x) => `  restore:     ${snapshotLine(x)}`),
    ...(d.unitChanges === null ? [] : [`  units:       ${unitChangesText(d.unitChanges)}`]),
    ...(d.rollbackUnitChanges === null ? [] : [`  rollback:    ${unitChangesText(d.rollbackUnitChanges)}`]),
  ];
}

function statusText(s: Status): string {
  const lines = [
    `target:      ${s.target} (${s.hostname || "?"}, agent ${s.agentVersion || "?"})`,
    `generation:  ${s.currentGeneration ?? "none"}`,
    `profile:     ${s.profileSystem || "-"}`,
    `running:     ${s.currentSystem || "-"}${s.runningProfileSystem ? "" : "  (differs from the profile)"}`,
  ];
  lines.push(
    s.holds.length === 0 ? "holds:       none" : `holds:       ${s.holds.length} (deploys are refused)`,
    ...s.holds.map((h) => `  ${holdText(h)}`),
  );
  if (s.space !== null) lines.push(`space:       ${spaceText(s.space)}`);
  if (s.deployment !== null) lines.push(...deploymentText("in progress", s.deployment));
  if (s.lastDeployment !== null) lines.push(...deploymentText("last", s.lastDeployment));
  if (s.health !== null) {
    const failing = s.health.checks.filter((c) => !c.healthy).map((c) => `${c.id}: ${c.reason}`);
    lines.push(
      `health:      ${s.health.healthy ? "healthy" : "UNHEALTHY"} at ${s.health.at ?? "-"}${s.health.reason === "" ? "" : `: ${s.health.reason}`}`,
      ...failing.map((f) => `  failing:   ${f}`),
    );
  }
  return lines.join("\n");
}
