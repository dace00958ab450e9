// Issue 8: the fault matrix (as Mender's Killed_in_X). For every state a deployment passes
// through, the agent is held in that state (no timing luck: a held command, a held fixture, or
// strace freezing it right after the record write), checked to be there, then SIGKILLed — or the
// robot's power is cut. Every run must end by itself on a healthy generation (the new one,
// confirmed, or exactly the recorded previous one), with a final record, no switch unit left, a
// verifying store, and the controller's exit code saying which. Then systemd dropping one call of
// the switch (as at the end of a boot) must not roll it back. At the end: the lab talker's stop
// when SIGTERM lands inside rospy's queue lock (else up to 90 s in any switch restarting it), and the
// admission race.
// The machinery (stages, reset, one cell): support/fault-cells.ts.

import { status } from "@grpc/grpc-js";
import { DeploymentState } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { agentClient, controller } from "../support/controller.js";
import { robotDiagnostics } from "../support/diagnose.js";
import { deployDroppingOnce } from "../support/dropped-call.js";
import { faultCells, SYSTEM_UNITS } from "../support/fault-cells.js";
import { activateAll } from "../support/race.js";
import { type Ended, expectSettled } from "../support/settled.js";
import { talkerStopUnderQueueLock } from "../support/stop-probe.js";

/** FAULTS_ROBOT: another robot name, for running this file beside another run of it. */
const NAME = process.env.FAULTS_ROBOT ?? "fm-lab";
const cells = faultCells(NAME);
const { robot, sys, deploy, resetToGood, runCell } = cells;

describe("fault matrix: SIGKILL and power cut in every deployment state", () => {
  beforeAll(() => cells.setUp(), 600_000);
  afterAll(() => cells.tearDown());

  const expected: Record<string, Ended["where"]> = {
    pending: "kept",
    profile_set: "kept",
    activating: "kept",
    activated: "kept",
    checking_health: "kept",
    awaiting_confirmation: "rolled back",
    rolling_back: "rolled back",
  };
  for (const [state, where] of Object.entries(expected)) {
    for (const fault of ["SIGKILL", "power cut"] as const) {
      it(`${fault} in ${state}: ends ${where}, exit ${where === "kept" ? 0 : 2}`, async () => {
        // Read before the next cell's reset (or labDown) wipes what the failure left.
        onTestFailed(async () => {
          process.stderr.write(await robotDiagnostics(robot, SYSTEM_UNITS));
        });
        expect((await runCell(state, fault)).where).toBe(where);
      }, 240_000);
    }
  }

  it("systemd drops the switch's systemd-run, or its status query, once: asked again, kept", async () => {
    onTestFailed(async () => {
      process.stderr.write(await robotDiagnostics(robot, SYSTEM_UNITS));
    });
    const drops = [
      ["systemd-run", "--unit=ros-rollback-switch-"],
      ["systemctl", "show ros-rollback-switch-"],
    ] as const;
    for (const [tool, word] of drops) {
      const target = await resetToGood();
      const dropped = await deployDroppingOnce(robot, tool, word, () => deploy(target));
      expect(dropped.used, `${tool}: a call dropped`).toBe(true);
      const ended = await expectSettled(cells.lab, robot, dropped.id, target, dropped.run);
      expect(ended.where, `${tool}: controller exit ${ended.code}`).toBe("kept");
      expect(dropped.retries, `${tool}: the agent's journal`).toHaveLength(1);
    }
  }, 300_000);

  it("the lab talker stops by itself on a SIGTERM that lands while it holds a subscriber's queue lock", async () => {
    await resetToGood(); // a system running: roscore, and the talker's ros-nodes
    const probe = await talkerStopUnderQueueLock(robot);
    expect(probe.fired, probe.output).toBe(true);
    expect(probe.code, probe.output).toBe(0);
  }, 180_000);

  it("admission race: 8 Activates of talker-header on separate channels at once: exactly one proceeds", async () => {
    await resetToGood();
    // The agent's collection after each kept deployment may have removed the path pushed in
    // beforeAll (no generation keeps it): push it again, as deploy would.
    const push = await controller(cells.lab, [
      "deploy",
      sys("talker-header"),
      "--sign-key",
      cells.lab.signingKey,
      "--action",
      "dry-activate",
    ]);
    expect(push.code, push.stderr).toBe(0);
    const clients = Array.from({ length: 8 }, () =>
      agentClient(cells.lab, undefined, { "grpc.use_local_subchannel_pool": 1 }),
    );
    const streams = await activateAll(clients, sys("talker-header"), 90_000);
    for (const c of clients) c.close();
    expect(
      streams.map((s) => s.endSeq >= 0),
      "every stream ended",
    ).toEqual(Array(8).fill(true));
    const winners = streams.filter((s) => s.events.length > 0);
    expect(winners.length, "streams that got events").toBe(1);
    const last = winners[0]?.events.at(-1);
    expect(last?.event.final).toBe(true);
    expect(DeploymentState[last?.event.state ?? 0]).toBe("DEPLOYMENT_STATE_SUCCEEDED");
    const losers = streams.filter((s) => s.events.length === 0);
    expect(losers.map((s) => s.error?.code)).toEqual(Array(7).fill(status.FAILED_PRECONDITION));
    // "At once": every refusal came before the winner's deployment ended.
    for (const l of losers) expect(l.endSeq).toBeLessThan(last?.seq ?? -1);
  }, 180_000);
});
