// The --health examples of `ros-rollback deploy --help` must work on the lab robot: each is merged
// into the lab agent's configured health with the agent's own merge, as the agent does per deploy.
import { describe, expect, it } from "vitest";
import { compileConfig } from "../../agent/src/config/load.js";
import { mergeHealthSpec } from "../../agent/src/health/per-deploy.js";
import { checkIds } from "../../agent/src/health/spec.js";
import { deployCommand } from "../../controller/src/commands/deploy.js";
import { commandHelp } from "../../controller/src/core/help.js";
import { agentConfig } from "./config.js";

/** Every line of the help that holds exactly one JSON object: the examples. */
function jsonExamples(help: string): Record<string, unknown>[] {
  return help
    .split("\n")
    .map((line) => line.match(/\{.*\}/)?.[0])
    .filter((m): m is string => m !== undefined)
    .flatMap((text) => {
      try {
        return [JSON.parse(text) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

const lab = compileConfig(JSON.parse(agentConfig(["lab-r1-1:JqLbdGpdbXhQ9aUCB1BvAA5WSZDHS73LT+mqWMR6MIE="])));
const help = commandHelp(deployCommand);
const examples = jsonExamples(help.slice(help.indexOf("--health FILE")));

describe("deploy --help: the --health examples on the lab robot", () => {
  it("finds the examples in the help", () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it.each(examples.map((e) => [JSON.stringify(e), e] as const))("%s is accepted", (_, example) => {
    const merged = mergeHealthSpec(lab.health, example);
    // Nothing the example left out changed.
    expect(merged.settleSeconds).toBe(lab.health.settleSeconds);
    expect(merged.timeoutSeconds).toBe(lab.health.timeoutSeconds);
    expect(merged.ros?.masterUri).toBe(lab.health.ros?.masterUri);
    const dropped = (example.drop as string[] | undefined) ?? [];
    expect(checkIds(merged)).toEqual(checkIds(lab.health).filter((id) => !dropped.includes(id)));
  });

  it("the first one tightens only minRateHz; maxSilenceSeconds stays the lab's 3", () => {
    expect(lab.health.ros?.topics).toEqual([{ name: "/chatter", minRateHz: 2, maxSilenceSeconds: 3 }]);
    const [first] = examples;
    expect(mergeHealthSpec(lab.health, first).ros?.topics).toEqual([
      { name: "/chatter", minRateHz: 5, maxSilenceSeconds: 3 },
    ]);
  });
});
