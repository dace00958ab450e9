import { describe, expect, it } from "vitest";
import { COMMANDS } from "../commands/index.js";
import { parseCommandLine } from "../context/command-line.js";
import { UsageError } from "./errors.js";
import { commandHelp, globalHelp } from "./help.js";

const parse = (argv: string[], env: Record<string, string> = {}) => parseCommandLine(argv, COMMANDS, env);

function run(argv: string[], env: Record<string, string> = {}) {
  const parsed = parse(argv, env);
  if (parsed.kind !== "run") throw new Error(`expected a command, got ${parsed.kind}`);
  return parsed;
}

describe("parseCommandLine", () => {
  it("shows global help for no arguments, --help, and `help`", () => {
    expect(parse([])).toEqual({ kind: "help", command: undefined });
    expect(parse(["--help"])).toEqual({ kind: "help", command: undefined });
    expect(parse(["-h"])).toEqual({ kind: "help", command: undefined });
  });

  it("shows command help for `<cmd> --help` and `help <cmd>`", () => {
    expect(parse(["deploy", "--help"])).toMatchObject({ kind: "help", command: { name: "deploy" } });
    expect(parse(["help", "rollback"])).toMatchObject({ kind: "help", command: { name: "rollback" } });
  });

  it("takes global options before or after the command", () => {
    const a = run(["--inventory", "f.json", "--target", "r1", "status", "--json"]);
    const b = run(["status", "--target=r1", "--inventory", "f.json", "--json"]);
    for (const p of [a, b]) {
      expect(p.command.name).toBe("status");
      expect(p.global).toEqual({
        json: true,
        inventory: "f.json",
        target: "r1",
        connectTimeoutMs: 10_000,
        rpcTimeoutMs: 120_000,
      });
    }
  });

  it("falls back to ROS_ROLLBACK_INVENTORY / ROS_ROLLBACK_TARGET", () => {
    const p = run(["status"], { ROS_ROLLBACK_INVENTORY: "/i.json", ROS_ROLLBACK_TARGET: "r2" });
    expect(p.global).toMatchObject({ inventory: "/i.json", target: "r2" });
  });

  it("parses --connect-timeout in seconds", () => {
    expect(run(["status", "--connect-timeout", "2.5"]).global.connectTimeoutMs).toBe(2500);
    expect(() => run(["status", "--connect-timeout", "0"])).toThrow(
      /--connect-timeout: expected a positive number/,
    );
  });

  it("parses --rpc-timeout in seconds", () => {
    expect(run(["status", "--rpc-timeout", "0.5"]).global.rpcTimeoutMs).toBe(500);
    expect(() => run(["status", "--rpc-timeout", "abc"])).toThrow(
      /--rpc-timeout: expected a positive number/,
    );
  });

  it("hands the command its own options and positionals only", () => {
    const p = run([
      "deploy",
      "/nix/store/abc-system",
      "--action",
      "test",
      "--target",
      "r1",
      "--override-hold",
      "topic:/mission_state",
      "--override-hold=a,b",
    ]);
    expect(p.raw).toEqual({
      values: {
        action: "test",
        compress: undefined,
        "sign-key": undefined,
        "confirm-timeout": undefined,
        "no-magic-rollback": undefined,
        "no-auto-rollback": undefined,
        "no-confirm": undefined,
        health: undefined,
        "follow-timeout": undefined,
        "reconnect-grace": undefined,
        canary: undefined,
        batch: undefined,
        "max-parallel": undefined,
        "max-failures": undefined,
        "min-sample": undefined,
        pause: undefined,
        "rollback-on-abort": undefined,
        strict: undefined,
        "override-hold": "a,b",
      },
      // A repeatable option keeps every value, in order, never split at commas.
      lists: { "override-hold": ["topic:/mission_state", "a,b"] },
      positionals: ["/nix/store/abc-system"],
    });
  });

  it.each([
    [
      ["frobnicate"],
      /unknown command "frobnicate"; commands: deploy, plan, confirm, watch, health, status, generations, gc, rollback, rollout, hold, release, audit$/,
    ],
    [["--json"], /missing command/],
    [["status", "--bogus"], /Unknown option '--bogus'/],
    [["status", "extra"], /unexpected argument "extra"/],
    [["deploy"], /missing <store-path>/],
    [
      ["deploy", "/nix/store/x", "--action", "reboot"],
      /--action: expected one of switch, boot, test, dry-activate/,
    ],
    [["deploy", "/nix/store/x", "--compress", "xz"], /--compress: expected one of auto, none, zstd, gzip/],
    [["rollback", "--to=-1"], /--to: expected a generation number/],
    [["rollback", "--to", "-1"], /argument is ambiguous/],
    [["rollback", "--to", "4x"], /--to: expected a generation number/],
    [["rollback", "--to", "0"], /--to: expected a generation number/],
    [["rollback", "--follow-timeout", "-1"], /argument is ambiguous/],
    [["rollback", "--follow-timeout", "soon"], /--follow-timeout: expected seconds/],
    [["rollback", "--override-hold", ""], /--override-hold: "" \(0 characters\) is not a hold name/],
    [["deploy", "/nix/store/x", "--override-hold", "a\tb"], /--override-hold: "a\\tb" \(3 characters\)/],
    [["deploy", "/nix/store/x", "--override-hold", "x".repeat(257)], /"x{64}…" \(257 characters\)/],
    [
      ["rollback", ...Array.from({ length: 33 }, (_, i) => `--override-hold=h${i}`)],
      /--override-hold: at most 32 holds, got 33/,
    ],
    [["deploy", "/nix/store/x", "--plan", "--override-hold", "m"], /--plan changes nothing/],
  ])("%j is a usage error", (argv, message) => {
    const attempt = () => {
      const p = parse(argv);
      if (p.kind === "run") p.command.prepare(p.raw);
    };
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(message);
  });

  it("validates deploy and rollback arguments into typed values", () => {
    const p = run(["rollback", "--to", "41"]);
    expect(() => p.command.prepare(p.raw)).not.toThrow();
  });
});

describe("help", () => {
  it("lists every command, the global options and the exit codes", () => {
    const text = globalHelp(COMMANDS);
    for (const c of COMMANDS) expect(text).toContain(c.name);
    for (const word of ["--inventory FILE", "--target NAME", "--json", "Exit codes:", "  70"]) {
      expect(text).toContain(word);
    }
    expect(text).toMatch(/^ {2}2 +the deployment failed and the robot is back on the previous generation$/m);
  });

  it("documents each command's options, with the exit codes", () => {
    for (const c of COMMANDS) {
      const text = commandHelp(c);
      expect(text).toContain(`Usage: ros-rollback ${c.name}`);
      for (const o of Object.keys(c.options)) expect(text).toContain(`--${o}`);
      expect(text).toContain("Exit codes:");
    }
  });
});
