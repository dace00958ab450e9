// systemd drops calls as it finishes a boot: the switch runner asks again instead of taking a
// dropped `systemctl show` for a failed activation. This machine runs no systemd, so the runner
// answers as systemctl / systemd-run do (the lab's fault matrix drops real calls).
import { describe, expect, it } from "vitest";
import { AgentError } from "../errors.js";
import type { CommandResult, CommandRunner } from "./command.js";
import { SystemdSwitchRunner } from "./switcher.js";
import { SYSTEMD_RETRY_DELAYS_MS, type SystemdRetry } from "./systemd-retry.js";

const UNIT = "ros-rollback-switch-d1";
const SYSTEM = "/nix/store/00000000000000000000000000000000-nixos-system";
const DROPPED: CommandResult = {
  code: 1,
  stdout: "",
  stderr: "Failed to get properties: Connection reset by peer\n",
};
const show = (props: string): CommandResult => ({ code: 0, stdout: `${props}\n`, stderr: "" });
const ENDED = show(
  "LoadState=loaded\nActiveState=active\nSubState=exited\nResult=success\nExecMainStatus=0\nExecMainCode=1",
);
const RUNNING = show("LoadState=loaded\nActiveState=activating\nSubState=start\nResult=success");
const NOT_FOUND = show("LoadState=not-found\nActiveState=inactive\nSubState=dead");
const OK: CommandResult = { code: 0, stdout: "", stderr: "" };

type Answer = CommandResult | AgentError;

/** Answers each call of a tool with the next scripted answer; a call nobody scripted throws. */
function rig(script: { systemctl?: Answer[]; "systemd-run"?: Answer[] }, onWait = () => {}) {
  const calls: string[][] = [];
  const waits: number[] = [];
  const warnings: string[] = [];
  const runner: CommandRunner = {
    run: async (argv) => {
      calls.push([...argv]);
      const tool = argv[0] === "systemctl" || argv[0] === "systemd-run" ? argv[0] : undefined;
      const next = tool === undefined ? undefined : script[tool]?.shift();
      if (next === undefined) throw new Error(`unexpected call: ${argv.join(" ")}`);
      if (next instanceof AgentError) throw next;
      return next;
    },
  };
  const retry: SystemdRetry = {
    delaysMs: SYSTEMD_RETRY_DELAYS_MS,
    sleep: async (ms, signal) => {
      waits.push(ms);
      onWait();
      signal?.throwIfAborted();
    },
    onRetry: (m) => warnings.push(m),
  };
  const switcher = new SystemdSwitchRunner(runner, "/run/current-system/sw/bin", retry);
  const runs = () => calls.filter((c) => c[0] === "systemd-run");
  return { switcher, calls, waits, warnings, runs };
}

describe("SystemdSwitchRunner asks systemd again when it drops a call", () => {
  it("a dropped `systemctl show` is asked again, and the switch's exit status still read", async () => {
    const r = rig({ systemctl: [DROPPED, ENDED] });
    expect(await r.switcher.status(UNIT)).toMatchObject({ exists: true, running: false, exitCode: 0 });
    expect(r.waits).toEqual([250]);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /^systemctl show ros-rollback-switch-d1 .*Connection reset by peer; asking systemd again in 250 ms$/,
      ),
    ]);
  });

  it("a lasting failure is thrown after the last wait", async () => {
    const r = rig({ systemctl: Array.from({ length: 6 }, () => DROPPED) });
    const e = await r.switcher.status(UNIT).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentError);
    expect(e).toMatchObject({
      code: "EXTERNAL_COMMAND_FAILED",
      message: expect.stringMatching(/exited 1: Failed to get properties/),
    });
    expect(r.waits).toEqual([250, 500, 1000, 2000, 4000]);
    expect(r.calls.length).toBe(6);
  });

  it("a timed-out call is not asked again", async () => {
    const r = rig({ systemctl: [new AgentError("TIMEOUT", "systemctl show was killed by SIGKILL"), ENDED] });
    await expect(r.switcher.status(UNIT)).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(r.calls.length).toBe(1);
    expect(r.waits).toEqual([]);
  });

  it("an aborted deployment's failed call is not asked again", async () => {
    const r = rig({ systemctl: [DROPPED, ENDED] });
    const abort = new AbortController();
    abort.abort();
    await expect(r.switcher.status(UNIT, abort.signal)).rejects.toMatchObject({ code: "ABORTED" });
    expect(r.calls.length).toBe(1);
    expect(r.warnings).toEqual([]);
  });

  it("a deployment aborted during the wait is not asked again", async () => {
    const abort = new AbortController();
    const r = rig({ systemctl: [DROPPED, ENDED] }, () => abort.abort());
    await expect(r.switcher.status(UNIT, abort.signal)).rejects.toMatchObject({ code: "ABORTED" });
    expect(r.calls.length).toBe(1);
  });

  it("systemd-run that lost its answer but started the unit is not run a second time", async () => {
    const r = rig({ "systemd-run": [DROPPED, OK], systemctl: [RUNNING] });
    await r.switcher.start(UNIT, SYSTEM, "switch");
    expect(r.runs().length).toBe(1);
    expect(r.waits).toEqual([250]);
  });

  it("systemd-run that failed with no unit left behind is run again with the same arguments", async () => {
    const r = rig({ "systemd-run": [DROPPED, OK], systemctl: [NOT_FOUND] });
    await r.switcher.start(UNIT, SYSTEM, "switch");
    const [first, second] = r.runs();
    expect(second).toEqual(first);
    expect(first).toEqual(
      expect.arrayContaining([`--unit=${UNIT}`, `${SYSTEM}/bin/switch-to-configuration`]),
    );
  });

  it("systemd-run is run again when systemd cannot say whether the unit exists either", async () => {
    const r = rig({ "systemd-run": [DROPPED, DROPPED], systemctl: [DROPPED, RUNNING] });
    await r.switcher.start(UNIT, SYSTEM, "switch");
    expect(r.runs().length).toBe(2);
    expect(r.waits).toEqual([250, 500]);
  });
});
