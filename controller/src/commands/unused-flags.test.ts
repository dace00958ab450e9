import { describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";

// A flag that would do nothing is a one-line usage error (exit 1), never
// silently ignored, and no robot is asked anything. Two fake agents over real
// gRPC with mutual TLS on 127.0.0.1, so a call that should not happen is seen.

const rig = useCliRig({
  name: "unused-flags",
  agents: 2,
  targets: (r) => ({
    r1: r.robot(),
    r2: r.robot({ address: `127.0.0.1:${r.agents[1]?.port}` }),
  }),
});
const ID = "r-20261129160102-a1b2c3";
const SYSTEM = "/nix/store/00000000000000000000000000000000-nixos-system";

async function refused(argv: string[], message: RegExp, command: string): Promise<void> {
  rig.reset();
  const r = await rig.run([...argv, "--inventory", rig.inventory, "--connect-timeout", "3"]);
  expect(r.stderr.split("\n")).toEqual([
    expect.stringMatching(message),
    `Run 'ros-rollback ${command} --help' for usage.`,
    "",
  ]);
  expect(r.code).toBe(1);
  for (const a of rig.agents) expect(a.calls).toEqual([]);
}

describe("rollout status refuses resume's flags", () => {
  it.each([
    ["--transfer", "push"],
    ["--upload-to", "file:///srv/cache"],
    ["--override-hold", "mission"],
    ["--wait-for-release", "60"],
    ["--compress", "zstd"],
    ["--sign-key", "key.sec"],
    ["--health", "health.json"],
    ["--follow-timeout", "5"],
    ["--reconnect-grace", "5"],
  ])("%s", async (flag, value) => {
    await refused(
      ["rollout", "status", ID, flag, value],
      new RegExp(`^error: ${flag}: only \`rollout resume\` takes it \\(status only reads\\)$`),
      "rollout",
    );
  });

  it("without them it asks the robots (the refusals above are not a connection failure)", async () => {
    rig.reset();
    const r = await rig.run([
      "rollout",
      "status",
      ID,
      "--inventory",
      rig.inventory,
      "--connect-timeout",
      "3",
    ]);
    expect(r.stderr).not.toMatch(/usage/);
    for (const a of rig.agents) expect(a.calls.map((c) => c.method)).toContain("getStatus");
  });
});

describe("deploy --plan refuses what only matters once something is activated", () => {
  it.each([
    ["--confirm-timeout", "60"],
    ["--no-magic-rollback"],
    ["--no-auto-rollback"],
    ["--no-confirm"],
    ["--health", "health.json"],
    ["--follow-timeout", "5"],
    ["--reconnect-grace", "5"],
    ["--canary", "1"],
    ["--batch", "1"],
    ["--max-failures", "1"],
    ["--min-sample", "1"],
    ["--pause", "1"],
    ["--rollback-on-abort"],
    ["--strict"],
  ])("%s", async (...flag) => {
    await refused(
      ["deploy", SYSTEM, "--plan", "--all", ...flag],
      new RegExp(`^error: ${flag[0]}: --plan activates nothing: it would do nothing$`),
      "deploy",
    );
  });
});

describe("deploy to one target refuses the rollout's options", () => {
  it.each([
    [["--canary", "1"]],
    [["--batch", "50%"]],
    [["--max-parallel", "2"]],
    [["--max-failures", "1"]],
    [["--min-sample", "1"]],
    [["--pause", "5"]],
    [["--rollback-on-abort"]],
    [["--strict"]],
    [["--max-parallel", "2", "--plan"]],
  ])("%j", async (flags) => {
    await refused(
      ["deploy", SYSTEM, "--target", "r1", ...flags],
      new RegExp(`^error: ${flags[0]}: only with several targets \\(--target repeated, --select, --all\\)$`),
      "deploy",
    );
  });
});

describe("--transfer substitute refuses what only a push uses", () => {
  it.each([
    ["deploy", ["deploy", SYSTEM, "--target", "r1"], ["--compress", "zstd"]],
    ["deploy", ["deploy", SYSTEM, "--target", "r1"], ["--sign-key", "key.sec"]],
    ["deploy", ["deploy", SYSTEM, "--all"], ["--upload-to", "file:///x", "--compress", "none"]],
    ["rollout", ["rollout", "resume", ID], ["--compress", "gzip"]],
    ["rollout", ["rollout", "resume", ID], ["--sign-key", "key.sec"]],
  ])("%s %j", async (command, argv, flags) => {
    await refused(
      [...argv, "--transfer", "substitute", ...flags],
      new RegExp(`^error: ${flags.at(-2)}: --transfer substitute pushes nothing$`),
      command,
    );
  });
});
