import { describe, expect, it } from "vitest";
import { COMMANDS } from "./index.js";
import { loadCommands } from "./lazy.js";

describe("loadCommands", () => {
  it("loads every command, in COMMANDS' order, when no command is named", async () => {
    expect(await loadCommands(undefined)).toEqual(COMMANDS);
    expect(await loadCommands("help")).toEqual(COMMANDS);
    expect(await loadCommands("no-such-command")).toEqual(COMMANDS);
  });

  it("loads the named command alone", async () => {
    for (const c of COMMANDS) expect(await loadCommands(c.name)).toEqual([c]);
  });
});
