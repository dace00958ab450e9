import { describe, expect, it } from "vitest";
import { COMMANDS } from "../commands/index.js";
import { parseCommandLine } from "../context/command-line.js";
import { UsageError, UserError } from "../core/errors.js";
import { parseInventory, selectTargets } from "./inventory.js";
import { isSingle, parseSelection } from "./selection.js";

const run = (argv: string[], env: Record<string, string> = {}) => {
  const p = parseCommandLine(argv, COMMANDS, env);
  if (p.kind !== "run") throw new Error("expected a run");
  return p;
};

const robot = { address: "10.0.0.5:50051", caFile: "ca.pem", certFile: "c.pem", keyFile: "c.key" };
const inventory = parseInventory(
  {
    targets: {
      a: { ...robot, labels: { site: "lab", ring: "canary" } },
      b: { ...robot, labels: { site: "lab", ring: "main" } },
      c: { ...robot, labels: { site: "field", ring: "main" } },
      d: robot,
    },
  },
  "/x/fleet.json",
);

describe("selection on the command line", () => {
  it("repeats --target, keeps the first as the single target, and is single for one", () => {
    const many = run(["status", "--target", "b", "--target=a"]);
    expect(many.selection.targets).toEqual(["b", "a"]);
    expect(many.global.target).toBe("b");
    expect(isSingle(many.selection)).toBe(false);
    expect(isSingle(run(["status", "--target", "a"]).selection)).toBe(true);
    expect(isSingle(run(["status"], { ROS_ROLLBACK_TARGET: "a" }).selection)).toBe(true);
  });

  it("parses --select KEY=VALUE (repeatable) and --all; $ROS_ROLLBACK_TARGET does not mix in", () => {
    const p = run(["status", "--select", "site=lab", "--select", "ring=a=b"], {
      ROS_ROLLBACK_TARGET: "a",
    });
    expect(p.selection).toEqual({
      targets: [],
      select: [
        { key: "site", value: "lab" },
        { key: "ring", value: "a=b" },
      ],
      all: false,
    });
    expect(run(["--all", "generations"]).selection.all).toBe(true);
  });

  it.each([
    [["status", "--target", "a", "--all"], /use one of --target, --select and --all/],
    [["status", "--select", "site"], /--select: expected KEY=VALUE/],
    [["status", "--select", "=lab"], /--select: expected KEY=VALUE/],
    [["status", "--select", `k=${"v".repeat(200)}`], /--select: expected KEY=VALUE \(each at most 128/],
    [["health", "--target", "a", "--target", "b"], /this command takes one target/],
    [["watch", "--all"], /this command takes one target/],
    [["confirm", "--select", "site=lab"], /this command takes one target/],
  ])("refuses %j", (argv, message) => {
    expect(() => run(argv)).toThrow(UsageError);
    expect(() => run(argv)).toThrow(message);
  });

  it("bounds the echoed --select text", () => {
    const long = "x".repeat(10_000);
    try {
      run(["status", "--select", long]);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(400);
    }
  });
});

describe("selectTargets", () => {
  const sel = (o: Partial<Parameters<typeof selectTargets>[1]>) =>
    selectTargets(inventory, { targets: [], select: [], all: false, ...o }).map((t) => t.name);

  it("--target: in the order given, duplicates once; --all: inventory order", () => {
    expect(sel({ targets: ["c", "a", "c"] })).toEqual(["c", "a"]);
    expect(sel({ all: true })).toEqual(["a", "b", "c", "d"]);
  });

  it("--select: every label must match (AND); a target without labels never matches", () => {
    expect(sel({ select: [{ key: "site", value: "lab" }] })).toEqual(["a", "b"]);
    expect(
      sel({
        select: [
          { key: "site", value: "lab" },
          { key: "ring", value: "main" },
        ],
      }),
    ).toEqual(["b"]);
  });

  it("names what matched nothing, and an unknown --target lists the known ones", () => {
    expect(() => sel({ select: [{ key: "site", value: "moon" }] })).toThrow(
      new UserError("no target in /x/fleet.json has the labels site=moon"),
    );
    expect(() => sel({ targets: ["a", "zz"] })).toThrow(/unknown target "zz" .*known targets: a, b, c, d/);
  });

  it("refuses labels that are not strings or too long", () => {
    expect(() => parseInventory({ targets: { a: { ...robot, labels: { site: 1 } } } }, "/f.json")).toThrow(
      /targets\.a\.labels\.site/,
    );
    expect(() =>
      parseInventory({ targets: { a: { ...robot, labels: { site: "x".repeat(129) } } } }, "/f.json"),
    ).toThrow(/targets\.a\.labels\.site/);
  });
});

describe("parseSelection", () => {
  it("refuses an empty --target", () => {
    expect(() => parseSelection([""], [], false, "status")).toThrow(/--target: expected a name/);
  });
});
