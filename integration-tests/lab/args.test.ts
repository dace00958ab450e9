// The lab CLI's argument parsing, without booting anything; and one run of the real `npm run lab`.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commandUsage, type LabCommand, OVERVIEW, parse, UsageError } from "./args.js";
import { REPO_ROOT, STATE_DIR } from "./config.js";
import { run } from "./proc.js";

const COMMANDS = [
  "up",
  "cache",
  "relay",
  "down",
  "inventory",
  "fail",
  "restart",
  "exec",
  "wait-agent",
  "systems",
  "rootfs",
];

function refused(argv: string[]): UsageError {
  try {
    parse(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
}

describe("lab command line", () => {
  it.each(
    [
      ["up", "dc-a", "--bogus-flag"],
      ["up", "dc-a", "--cahce"],
      ["up", "--bogus-flag", "dc-a"],
      ["cache", "up", "--bogus-flag"],
      ["relay", "up", "--bogus-flag"],
      ["down", "dc-a", "--bogus-flag"],
      ["inventory", "dc-a", "dc-b", "--bogus-flag"],
      ["fail", "dc-a", "--bogus-flag"],
      ["restart", "dc-a", "--soft"],
      ["exec", "dc-a", "--bogus-flag", "--", "true"],
      ["wait-agent", "dc-a", "--bogus-flag"],
      ["systems", "--bogus-flag"],
      ["rootfs", "--bogus-flag"],
    ].map((argv) => [argv]),
  )("refuses an unknown option: %j", (argv) => {
    const e = refused(argv);
    expect(e.message).toMatch(/^Unknown option '--(bogus-flag|cahce|soft)'$/);
    expect(e.usage).toBe(commandUsage(argv[0] ?? ""));
    expect(e.usage).toMatch(new RegExp(`^usage: npm run lab -- ${argv[0]} `.replace(/ $/, "")));
  });

  it.each(COMMANDS)("%s --help says what it does and names every option", (command) => {
    const help = parse([command, "--help"]);
    expect(help.kind).toBe("help");
    const text = help.kind === "help" ? help.text : "";
    expect(text.split("\n")[0]).toBe(commandUsage(command));
    expect(text.split("\n").length).toBeGreaterThan(1);
    for (const flag of commandUsage(command).match(/--[a-z-]+/g) ?? []) {
      if (flag !== "--") expect(text.split("\n").slice(1).join("\n")).toContain(flag);
    }
    expect(parse([command, "-h"])).toEqual(help);
  });

  it("prints the overview for no command, help and --help; refuses an unknown command", () => {
    for (const argv of [[], ["help"], ["--help"]])
      expect(parse(argv)).toEqual({ kind: "help", text: OVERVIEW });
    for (const command of COMMANDS) expect(OVERVIEW).toContain(`\n  ${command}`);
    const e = refused(["upp", "dc-a"]);
    expect(e.message).toBe("unknown command upp");
    expect(e.usage).toBe(OVERVIEW);
  });

  it("parses what it knows", () => {
    const up: LabCommand = parse([
      "up",
      "dc-a",
      "dc-b",
      "--parallel",
      "3",
      "--cache",
      "--nat",
      "--hold-unit",
      "m.service",
      "--store-size",
      "600M",
      "--boot-size",
      "2G",
    ]);
    expect(up).toEqual({
      kind: "up",
      names: ["dc-a", "dc-b"],
      agent: true,
      parallel: 3,
      cache: true,
      ssh: false,
      nat: true,
      vm: false,
      holdConditions: [{ kind: "unit", unit: "m.service" }],
      disks: { store: 600 * 1048576, boot: 2 * 1073741824 },
    });
    expect(parse(["up", "dc-a"])).toMatchObject({ disks: {}, vm: false });
    expect(parse(["up", "vm-a", "--vm"])).toMatchObject({ vm: true });
    expect(parse(["systems"])).toEqual({ kind: "systems", vm: false });
    expect(parse(["systems", "--vm"])).toEqual({ kind: "systems", vm: true });
    expect(parse(["up", "dc-a", "--store-size", "8M"])).toMatchObject({ disks: { store: 8 * 1048576 } });
    expect(parse(["up", "dc-a", "--boot-size", "64G"])).toMatchObject({ disks: { boot: 64 * 1073741824 } });
    expect(parse(["exec", "dc-a", "--stdin", "--", "ls", "-la", "--bogus"])).toEqual({
      kind: "exec",
      name: "dc-a",
      stdin: true,
      cmd: ["ls", "-la", "--bogus"],
    });
    expect(parse(["exec", "dc-a", "hostname"])).toEqual({
      kind: "exec",
      name: "dc-a",
      stdin: false,
      cmd: ["hostname"],
    });
    expect(parse(["wait-agent", "dc-a"])).toEqual({ kind: "wait-agent", name: "dc-a", seconds: 30 });
    expect(parse(["fail", "dc-a", "--system", "flag-talker", "--off"])).toEqual({
      kind: "fail",
      name: "dc-a",
      off: true,
      system: "flag-talker",
    });
    expect(parse(["cache", "down"])).toEqual({ kind: "cache", action: "down" });
    expect(parse(["relay", "up"])).toEqual({ kind: "relay", action: "up" });
  });

  it.each<[string[], string]>([
    [["up"], "missing robot name"],
    [["up", "dc-a", "dc-a"], "a robot is named twice"],
    [["up", "dc-a", "--parallel"], "Option '--parallel <value>' argument missing"],
    [["up", "dc-a", "--parallel", "0"], "--parallel wants a whole number 1-999"],
    ...["1.5G", "600", "600MB", "600m", "0M", "7M", "65G", "0600M", "", " 600M", "1T"].map(
      (size): [string[], string] => [
        ["up", "dc-a", "--store-size", size],
        `--store-size wants MiB or GiB from 8M to 64G, like 600M or 2G, not ${size}`,
      ],
    ),
    [
      ["up", "dc-a", "--boot-size", "big"],
      "--boot-size wants MiB or GiB from 8M to 64G, like 600M or 2G, not big",
    ],
    [["cache", "sideways"], "cache up|down"],
    [["relay", "up", "now"], "relay up|down"],
    [["restart", "dc-a", "dc-b"], "unexpected argument dc-b"],
    [["exec", "dc-a", "--"], "exec needs a command after --"],
    [["wait-agent", "dc-a", "soon"], "SECONDS wants a whole number 1-999"],
    [["systems", "extra"], "unexpected argument extra"],
  ])("refuses %j: %s", (argv, message) => {
    expect(refused(argv).message).toBe(message);
  });

  it("bounds what it echoes", () => {
    const e = refused(["up", "dc-a", `--${"x".repeat(5000)}\n`]);
    expect(e.message.length).toBeLessThan(200);
    expect(e.message).not.toContain("\n");
    expect(refused([`${"y".repeat(5000)}`]).message.length).toBeLessThan(200);
    const size = refused(["up", "dc-a", "--store-size", `${"9".repeat(5000)}\nM`]);
    expect(size.message.length).toBeLessThan(250);
    expect(size.message).not.toContain("\n");
  });
});

describe("npm run lab", () => {
  it("refuses an unknown option with the usage line and exit 64, booting nothing", async () => {
    const name = "dc-bogus-flag";
    const robotDir = join(STATE_DIR, "robots", name);
    expect(existsSync(robotDir)).toBe(false);
    const argv = ["run", "-s", "lab", "--", "up", name, "--bogus-flag"];
    const r = await run("npm", argv, { cwd: REPO_ROOT, check: false });
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("lab: Unknown option '--bogus-flag'\nusage: npm run lab -- up NAME…");
    expect(existsSync(robotDir)).toBe(false);
  });

  it("refuses a bad disk size the same way, booting nothing", async () => {
    const name = "dc-bad-size";
    const robotDir = join(STATE_DIR, "robots", name);
    const argv = ["run", "-s", "lab", "--", "up", name, "--store-size", "1.5G"];
    const r = await run("npm", argv, { cwd: REPO_ROOT, check: false });
    expect(r.code).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      "lab: --store-size wants MiB or GiB from 8M to 64G, like 600M or 2G, not 1.5G\nusage:",
    );
    expect(existsSync(robotDir)).toBe(false);
  });
});
