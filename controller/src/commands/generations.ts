import type { AgentApi } from "../agent-api.js";
import { defineCommand } from "../context/command.js";
import { expectPositionals } from "../core/args.js";
import { ExitCode } from "../core/errors.js";
import { generationJson } from "../report/views.js";
import { isSingle } from "../targets/selection.js";
import { answersResult, askEachTarget } from "./each-target.js";

type Row = ReturnType<typeof generationJson>;

export const generationsCommand = defineCommand<Record<string, never>>({
  name: "generations",
  summary: "list the system profile's generations, oldest first",
  description:
    'Read-only. --json prints an array of {"generation","storePath","current","createdAt"} (ISO 8601).',
  positionals: [],
  options: {},
  examples: [
    "ros-rollback generations --inventory fleet.json --target robot1",
    'ros-rollback generations --all --json   # [{"target", "generations": [...]}, ...]',
  ],
  multiTarget: true,
  parse(raw) {
    expectPositionals(raw, [], "generations");
    return {};
  },
  async run(_args, ctx) {
    const ask = async (api: AgentApi) =>
      (await api.listGenerations(ctx.signal)).generations.map(generationJson);
    if (!isSingle(ctx.selection)) {
      const answers = await askEachTarget(ctx, ask);
      return answersResult(answers, (target, generations) => ({ target, generations }), rowsText);
    }
    const api = await ctx.connect();
    try {
      const rows = await ask(api);
      return { exitCode: ExitCode.Ok, json: rows, human: rowsText(rows) };
    } finally {
      api.close();
    }
  },
});

function rowsText(rows: readonly Row[]): string {
  const human = rows
    .map(
      (g) =>
        `${g.current ? "*" : " "} ${String(g.generation).padStart(4)}  ${g.createdAt ?? "-".padEnd(24)}  ${g.storePath}`,
    )
    .join("\n");
  return human === "" ? "(no generations)" : human;
}
