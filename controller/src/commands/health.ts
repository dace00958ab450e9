import { defineCommand } from "../context/command.js";
import { parsePositionals } from "../core/args.js";
import { ExitCode } from "../core/errors.js";
import { type HealthJson, healthJson } from "../report/views.js";
import { TARGET_POSITIONAL, targetName } from "../targets/target-arg.js";

const POSITIONALS = [TARGET_POSITIONAL] as const;

export const healthCommand = defineCommand<{ readonly target: string | undefined }>({
  name: "health",
  summary: "run the agent's health checks once, now (exit 0 healthy, 5 unhealthy)",
  description: [
    "Read-only: asks the agent for one round of its configured health checks (systemd units, failed",
    "units, ROS master/nodes/topics, exec and HTTP probes) and prints each check. Exit 0 when all pass,",
    "5 when one fails, 1 when the agent cannot be reached or refuses.",
    '--json: {"target", "healthy", "reason", "phase", "at", "stableForSeconds", "checks": [{"id", "kind",',
    '"healthy", "reason", "durationMs"}]}.',
  ].join("\n"),
  positionals: POSITIONALS,
  options: {},
  examples: ["ros-rollback health robot1 --inventory fleet.json", "ros-rollback health robot1 --json"],
  parse(raw) {
    const [target] = parsePositionals(raw, POSITIONALS, "health");
    return { target };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    try {
      const report = healthJson(await api.checkHealth(ctx.signal));
      return {
        exitCode: report.healthy ? ExitCode.Ok : ExitCode.Unhealthy,
        json: { target, ...report },
        human: healthText(target, report),
      };
    } finally {
      api.close();
    }
  },
});

function healthText(target: string, h: HealthJson): string {
  const head = `${target}: ${h.healthy ? "healthy" : "UNHEALTHY"}${h.reason === "" ? "" : `: ${h.reason}`}`;
  const width = Math.max(0, ...h.checks.map((c) => c.id.length));
  const rows = h.checks.map(
    (c) =>
      `  ${c.healthy ? "ok  " : "FAIL"}  ${c.id.padEnd(width)}  ${c.reason}${c.durationMs > 0 ? ` (${c.durationMs} ms)` : ""}`,
  );
  return [head, ...rows].join("\n");
}
