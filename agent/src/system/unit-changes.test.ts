import { describe, expect, it } from "vitest";
import { parseInvocations, parseSwitchOutput, reconcile } from "./unit-changes.js";

// NixOS's switch-to-configuration output for the ROS demo (talker/listener changed, roscore not).
const NIXOS_SWITCH = `stopping the following units: listener.service, talker.service
activating the configuration...
setting up /etc...
reloading user units for root...
restarting sysinit-reactivation.target
reloading the following units: dbus.service
restarting the following units: systemd-journald.service
starting the following units: listener.service, talker.service
the following new units were started: mission.service`;

const NIXOS_DRY = `would stop the following units: listener.service, talker.service
would NOT stop the following changed units: systemd-fsck-root.service
would activate the configuration
would restart the following units: systemd-journald.service
would reload the following units: dbus.service
would start the following units: listener.service, talker.service`;

describe("parseSwitchOutput", () => {
  it("reads NixOS's lines; a unit stopped and started again was restarted", () => {
    expect(parseSwitchOutput(NIXOS_SWITCH)).toEqual({
      stopped: [],
      started: ["mission.service"],
      restarted: ["listener.service", "systemd-journald.service", "talker.service"],
      reloaded: ["dbus.service"],
    });
  });

  it("reads dry-activate's 'would' lines, and ignores what it would NOT touch", () => {
    expect(parseSwitchOutput(NIXOS_DRY)).toEqual({
      stopped: [],
      started: [],
      restarted: ["listener.service", "systemd-journald.service", "talker.service"],
      reloaded: ["dbus.service"],
    });
  });

  it("reads the lab fixture's space-separated lists and drops what is not a unit name", () => {
    const lab =
      "stopping the following units: old.service\nstarting the following units: new.service $(rm -rf /) x";
    expect(parseSwitchOutput(lab)).toEqual({
      stopped: ["old.service"],
      started: ["new.service"],
      restarted: [],
      reloaded: [],
    });
    expect(parseSwitchOutput("")).toEqual({ stopped: [], started: [], restarted: [], reloaded: [] });
  });
});

describe("reconcile with systemd's InvocationIDs", () => {
  it("counts a unit running under a new invocation as restarted, whatever the output said", () => {
    const said = { stopped: [], started: ["b.service"], restarted: ["a.service"], reloaded: ["c.service"] };
    const before = {
      "a.service": "1",
      "b.service": "",
      "c.service": "3",
      "d.service": "4",
      "roscore.service": "5",
    };
    const after = {
      "a.service": "1b",
      "b.service": "2",
      "c.service": "3b",
      "d.service": "4b",
      "roscore.service": "5",
    };
    expect(reconcile(said, before, after)).toEqual({
      stopped: [],
      started: ["b.service"],
      restarted: ["a.service", "c.service", "d.service"],
      reloaded: [],
    });
  });
});

describe("reconcile: the writers the agent stopped around the switch", () => {
  const none = { stopped: [], started: [], restarted: [], reloaded: [] };

  it("running before and after under a new invocation: restarted, though the switch said started", () => {
    const said = { ...none, started: ["db.service"] };
    expect(reconcile(said, { "db.service": "1" }, { "db.service": "2" }, ["db.service"])).toEqual({
      ...none,
      restarted: ["db.service"],
    });
  });

  it("running before, not after (the new system dropped it): stopped, though the switch said nothing", () => {
    expect(
      reconcile(none, { "db.service": "1", "x.service": "9" }, { "x.service": "9" }, ["db.service"]),
    ).toEqual({ ...none, stopped: ["db.service"] });
  });

  it("not running before, running after (the agent started it): started; not running at either end: nothing", () => {
    const said = { ...none, stopped: ["idle.service"] };
    expect(
      reconcile(said, { "idle.service": "" }, { "db.service": "2" }, ["db.service", "idle.service"]),
    ).toEqual({ ...none, started: ["db.service"] });
  });

  it("units the agent did not stop keep the switch's word", () => {
    const said = { ...none, stopped: ["old.service"], started: ["new.service"] };
    expect(reconcile(said, { "old.service": "1" }, { "new.service": "2" }, ["db.service"])).toEqual(said);
  });
});

describe("parseInvocations", () => {
  it("parses systemctl show blocks", () => {
    const text = "Id=roscore.service\nInvocationID=abc\n\nId=talker.service\nInvocationID=\n\n";
    expect(parseInvocations(text)).toEqual({ "roscore.service": "abc", "talker.service": "" });
  });
});
