import type { CollectGarbageResponse } from "@ros-rollback/proto";
import { defineCommand } from "../context/command.js";
import { parsePositionals } from "../core/args.js";
import { ExitCode } from "../core/errors.js";
import { TARGET_POSITIONAL, targetName } from "../targets/target-arg.js";
import { bytes, spaceText } from "./space.js";

export interface GcArgs {
  readonly target: string | undefined;
  readonly dryRun: boolean;
}

const POSITIONALS = [TARGET_POSITIONAL] as const;

export const gcCommand = defineCommand<GcArgs>({
  name: "gc",
  summary: "delete the generations the robot's retention policy does not keep, then collect its Nix store",
  description: [
    "The agent keeps the current, booted and previous generations, those a deployment or a data snapshot",
    "needs, and the newest `gc.keepGenerations` not known to have failed; failed and rolled-back ones",
    "always go. Then Nix's garbage collection runs in its own unit at idle priority. The agent does this",
    "by itself after every kept or rolled-back deployment. Exit 1 while a deployment runs",
    "(FAILED_PRECONDITION); a deployment that starts meanwhile stops the collection.",
  ].join("\n"),
  positionals: POSITIONALS,
  options: {
    "dry-run": { type: "boolean", description: "say what would be deleted, delete nothing" },
  },
  examples: ["ros-rollback gc robot1 --dry-run", "ros-rollback gc --target robot1 --json"],
  parse(raw) {
    const [target] = parsePositionals(raw, POSITIONALS, "gc");
    return { target, dryRun: raw.values["dry-run"] === true };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    try {
      const res = await api.collectGarbage(args.dryRun, ctx.signal);
      return { exitCode: ExitCode.Ok, json: { target, ...gcJson(res) }, human: gcText(target, res) };
    } finally {
      api.close();
    }
  },
});

function gcJson(r: CollectGarbageResponse) {
  return {
    dryRun: r.dryRun,
    kept: r.kept.map((k) => ({ generation: k.generation, reasons: k.reasons })),
    removed: r.removed.map((k) => ({ generation: k.generation, reasons: k.reasons })),
    deletedPaths: r.deletedPaths,
    freedBytes: r.freedBytes,
    durationMs: r.durationMs,
    space: r.space ?? null,
  };
}

function gcText(target: string, r: CollectGarbageResponse): string {
  const gens = (xs: CollectGarbageResponse["kept"]) =>
    xs.length === 0 ? "none" : xs.map((g) => `${g.generation} (${g.reasons.join(", ")})`).join(", ");
  const lines = [
    `${target}: ${r.dryRun ? "would delete" : "deleted"} generations: ${gens(r.removed)}`,
    `${target}: kept: ${gens(r.kept)}`,
  ];
  if (!r.dryRun) lines.push(`${target}: ${r.deletedPaths} store paths deleted, ${bytes(r.freedBytes)} freed`);
  if (r.space !== undefined) lines.push(`${target}: ${spaceText(r.space)}`);
  return lines.join("\n");
}
