import { describe, expect, it } from "vitest";
import type { CommandRunner, RunOptions } from "../system/command.js";
import { SystemdUnits } from "./units.js";

/** Answers like systemctl: exit per unit name. */
class ScriptedRunner implements CommandRunner {
  readonly calls: string[] = [];
  constructor(private readonly codes: Record<string, number>) {}
  async run(argv: readonly string[], _o?: RunOptions) {
    this.calls.push(argv.join(" "));
    const code = this.codes[argv.at(-1) ?? ""] ?? 0;
    return { code, stdout: "", stderr: code ? `Failed: code ${code}` : "" };
  }
}

const signal = new AbortController().signal;

describe("SystemdUnits", () => {
  it("stopping a unit that is not loaded (the new system brings it) is not an error; others are stopped", async () => {
    const runner = new ScriptedRunner({ "new.service": 5 });
    await new SystemdUnits(runner).stop(["new.service", "db.service"], signal);
    expect(runner.calls).toEqual(["systemctl stop -- new.service", "systemctl stop -- db.service"]);
  });

  it("any other failure to stop a writer fails, naming the unit", async () => {
    const runner = new ScriptedRunner({ "db.service": 1 });
    await expect(new SystemdUnits(runner).stop(["db.service"], signal)).rejects.toThrow(
      /systemctl stop db.service exited 1/,
    );
    await expect(
      new SystemdUnits(new ScriptedRunner({ "x.service": 5 })).start(["x.service"], signal),
    ).rejects.toThrow(/exited 5/);
  });
});
