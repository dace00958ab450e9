import { describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";

// A bad value is echoed in the usage error clipped to 40 characters: one short line, whatever was given.

const rig = useCliRig({ name: "bounded-echo" });
const SYSTEM = "/nix/store/00000000000000000000000000000000-nixos-system";
const HUGE = `x${"y".repeat(5000)}\nz`;

describe("usage errors echo a bad value bounded", () => {
  it.each([
    ["deploy --confirm-timeout", ["deploy", SYSTEM, "--confirm-timeout", HUGE], "deploy"],
    ["deploy --follow-timeout", ["deploy", SYSTEM, "--follow-timeout", HUGE], "deploy"],
    ["watch --reconnect-grace", ["watch", "--reconnect-grace", HUGE], "watch"],
    ["rollback --to", ["rollback", "--to", HUGE], "rollback"],
  ])("%s", async (_, argv, command) => {
    rig.reset();
    const r = await rig.run([...argv, ...rig.target()]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")).toEqual([
      expect.stringMatching(/^error: --[a-z-]+: expected .*, got "xy{39}"$/),
      `Run 'ros-rollback ${command} --help' for usage.`,
      "",
    ]);
    expect(rig.agent.calls).toEqual([]);
  });
});
