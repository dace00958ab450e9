import { expectPositionals } from "../core/args.js";
import { defineCommand } from "../core/command.js";
import { ExitCode } from "../core/errors.js";
import { generationJson } from "../views.js";

export const generationsCommand = defineCommand<Record<string, never>>({
  name: "generations",
  summary: "list the system profile's generations, oldest first",
  description:
    'Read-only. --json prints an array of {"generation","storePath","current","createdAt"} (ISO 8601).',
  positionals: [],
  options: {},
  examples: ["ros-rollback generations --inventory fleet.json --target robot1"],
  parse(raw) {
    expectPositionals(raw, [], "generations");
    return {};
  },
  async run(_args, ctx) {
    const api = await ctx.connect();
    try {
      const { generations } = await api.listGenerations(ctx.signal);
      const rows = generations.map(generationJson);
      const human = rows
        .map(
          (g) =>
            `${g.current ? "*" : " "} ${String(g.generation).padStart(4)}  ${g.createdAt ?? "-".padEnd(24)}  ${g.storePath}`,
        )
        .join("\n");
      return { exitCode: ExitCode.Ok, json: rows, human: human === "" ? "(no generations)" : human };
    } finally {
      api.close();
    }
  },
});
