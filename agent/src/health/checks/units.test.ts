import { describe, expect, it } from "vitest";
import { FakeRunner, ok, showBlock } from "../testing/fakes.js";
import {
  globMatch,
  judgeFailedUnits,
  judgeUnit,
  listFailedUnits,
  parseFailedUnits,
  parseUnitState,
  readUnits,
  type UnitState,
} from "./units.js";

// What `systemctl show --property=Id,LoadState,ActiveState,SubState,Result,NRestarts,MainPID,
// ActiveEnterTimestampMonotonic -- talker.service nope.service multi-user.target` prints (systemd 252):
// properties in systemd's own order, one block per unit in argument order, blank line between blocks;
// a unit that does not exist still gets a block; a target has no NRestarts/Result.
const REAL_SHOW = `MainPID=1234
NRestarts=0
Result=success
Id=talker.service
LoadState=loaded
ActiveState=active
SubState=running
ActiveEnterTimestampMonotonic=51234567

MainPID=0
NRestarts=0
Result=success
Id=nope.service
LoadState=not-found
ActiveState=inactive
SubState=dead
ActiveEnterTimestampMonotonic=0

Id=multi-user.target
LoadState=loaded
ActiveState=active
SubState=active
ActiveEnterTimestampMonotonic=4012345
`;

const required = { name: "talker.service", required: true };
const optional = { name: "talker.service", required: false };

function state(p: Partial<UnitState>): UnitState {
  return {
    name: "talker.service",
    loadState: "loaded",
    activeState: "active",
    subState: "running",
    result: "success",
    nRestarts: 0,
    mainPid: 100,
    activeEnterMonotonic: 5000,
    ...p,
  };
}

describe("reading units", () => {
  it("reads all units in one bounded systemctl show and maps blocks by argument order", async () => {
    const runner = new FakeRunner().on("systemctl show", () => ok(REAL_SHOW));
    const units = await readUnits(runner, ["talker.service", "nope.service", "multi-user.target"], {
      timeoutMs: 5000,
    });
    expect(runner.calls).toEqual([
      [
        "systemctl",
        "show",
        "--property=Id,LoadState,ActiveState,SubState,Result,NRestarts,MainPID,ActiveEnterTimestampMonotonic",
        "--",
        "talker.service",
        "nope.service",
        "multi-user.target",
      ],
    ]);
    expect(units.get("talker.service")).toEqual(
      state({ mainPid: 1234, activeEnterMonotonic: 51234567, nRestarts: 0 }),
    );
    expect(units.get("nope.service")?.loadState).toBe("not-found");
    expect(units.get("multi-user.target")).toMatchObject({
      nRestarts: undefined,
      result: "",
      subState: "active",
    });
  });

  it("passes the timeout to the runner", async () => {
    let seen: number | undefined;
    const runner = new FakeRunner().on("systemctl show", (_a, o) => {
      seen = o?.timeoutMs;
      return ok(showBlock({ id: "a.service" }));
    });
    await readUnits(runner, ["a.service"], { timeoutMs: 1234 });
    expect(seen).toBe(1234);
  });

  it("fails clearly when systemctl fails or prints an unexpected number of blocks", async () => {
    const failing = new FakeRunner().on("systemctl show", () => ({
      code: 1,
      stdout: "",
      stderr: "Failed to connect to bus: No such file or directory",
    }));
    await expect(readUnits(failing, ["a.service"], { timeoutMs: 1000 })).rejects.toThrow(
      /systemctl show exited 1: Failed to connect to bus/,
    );
    const short = new FakeRunner().on("systemctl show", () => ok(showBlock({ id: "a.service" })));
    await expect(readUnits(short, ["a.service", "b.service"], { timeoutMs: 1000 })).rejects.toThrow(
      /1 blocks for 2 units/,
    );
  });

  it("treats [not set] and empty values as absent", () => {
    const s = parseUnitState("x.service", "NRestarts=[not set]\nMainPID=\nLoadState=loaded");
    expect(s).toMatchObject({ nRestarts: undefined, mainPid: 0, activeState: "unknown" });
  });
});

describe("judging a unit", () => {
  it("is healthy when active and running", () => {
    expect(judgeUnit(required, state({}), undefined)).toEqual({
      healthy: true,
      reason: "unit talker.service active (running, NRestarts=0)",
    });
  });

  it("is unhealthy when failed, naming the result", () => {
    expect(
      judgeUnit(
        required,
        state({ activeState: "failed", subState: "failed", result: "exit-code" }),
        undefined,
      ),
    ).toEqual({ healthy: false, reason: "unit talker.service failed (Result=exit-code)" });
    // Even when it is not required.
    expect(judgeUnit(optional, state({ activeState: "failed", result: "signal" }), undefined).healthy).toBe(
      false,
    );
  });

  it("is unhealthy when not found or masked", () => {
    expect(
      judgeUnit(required, state({ loadState: "not-found", activeState: "inactive" }), undefined).reason,
    ).toBe("unit talker.service not loaded (LoadState=not-found)");
    expect(judgeUnit(optional, state({ loadState: "masked" }), undefined).healthy).toBe(false);
  });

  it("requires a required unit to be active, not an optional one", () => {
    const dead = state({ activeState: "inactive", subState: "dead", mainPid: 0 });
    expect(judgeUnit(required, dead, undefined)).toEqual({
      healthy: false,
      reason: "unit talker.service not active (ActiveState=inactive, SubState=dead, Result=success)",
    });
    expect(judgeUnit(optional, dead, undefined).healthy).toBe(true);
  });

  it("sees a restart loop in progress (activating/auto-restart)", () => {
    const looping = state({
      activeState: "activating",
      subState: "auto-restart",
      result: "exit-code",
      mainPid: 0,
    });
    expect(judgeUnit(required, looping, undefined).reason).toMatch(
      /not active \(ActiveState=activating, SubState=auto-restart/,
    );
    expect(judgeUnit(optional, looping, undefined).reason).toMatch(/is restarting/);
  });

  it("sees restarts since the window's baseline: NRestarts grew", () => {
    const v = judgeUnit(required, state({ nRestarts: 3, mainPid: 200 }), state({ nRestarts: 1 }));
    expect(v).toEqual({
      healthy: false,
      reason: "unit talker.service restarted 2 time(s) during the window (NRestarts 1 → 3)",
    });
  });

  it("sees restarts since the baseline: MainPID changed (a manual restart does not count in NRestarts)", () => {
    expect(judgeUnit(required, state({ mainPid: 200 }), state({ mainPid: 100 })).reason).toBe(
      "unit talker.service restarted during the window (MainPID 100 → 200)",
    );
  });

  it("sees restarts since the baseline: entered active again (units without a main process)", () => {
    const v = judgeUnit(
      required,
      state({ mainPid: 0, activeEnterMonotonic: 9000 }),
      state({ mainPid: 0, activeEnterMonotonic: 5000 }),
    );
    expect(v.reason).toBe("unit talker.service restarted during the window (entered active again)");
  });

  it("does not count a first start after the baseline as a restart", () => {
    const before = state({ activeState: "inactive", subState: "dead", mainPid: 0, activeEnterMonotonic: 0 });
    expect(judgeUnit(optional, state({}), before).healthy).toBe(true);
  });
});

describe("failed units outside the list", () => {
  it("parses list-units --plain output, with or without the bullet older systemd prints", () => {
    const out = "foo.service loaded failed failed Foo daemon\n● bar.mount   loaded failed failed /bar\n\n";
    expect(parseFailedUnits(out)).toEqual(["foo.service", "bar.mount"]);
    expect(parseFailedUnits("")).toEqual([]);
  });

  it("runs one bounded list-units call", async () => {
    const runner = new FakeRunner().on("systemctl list-units", () =>
      ok("x.service loaded failed failed X\n"),
    );
    expect(await listFailedUnits(runner, { timeoutMs: 1000 })).toEqual(["x.service"]);
    expect(runner.calls[0]).toEqual([
      "systemctl",
      "list-units",
      "--state=failed",
      "--plain",
      "--no-legend",
      "--no-pager",
      "--full",
    ]);
    const failing = new FakeRunner().on("systemctl list-units", () => ({
      code: 1,
      stdout: "",
      stderr: "no bus",
    }));
    await expect(listFailedUnits(failing, { timeoutMs: 1000 })).rejects.toThrow(/exited 1: no bus/);
  });

  it("ignores listed units and ignore patterns", () => {
    expect(judgeFailedUnits(["a.service", "b.service"], [], [])).toEqual({
      healthy: false,
      reason: "failed units: a.service, b.service",
    });
    expect(
      judgeFailedUnits(["user@1000.service", "talker.service"], ["user@*.service"], ["talker.service"]),
    ).toEqual({
      healthy: true,
      reason: "no failed units (2 ignored or checked on their own)",
    });
    expect(judgeFailedUnits([], [], [])).toEqual({ healthy: true, reason: "no failed units" });
  });

  it("globs with * only", () => {
    expect(globMatch("systemd-*.service", "systemd-networkd.service")).toBe(true);
    expect(globMatch("a.service", "aXservice")).toBe(false);
    expect(globMatch("*", "anything")).toBe(true);
  });
});
