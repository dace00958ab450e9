import { ActivationAction, RollbackReason, DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { rollbackReasonName, rollbackReasonText, stateName } from "./enum-names.js";
import { judge, type Outcome } from "./outcome.js";

const SWITCH = ActivationAction.ACTIVATION_ACTION_SWITCH;
const DRY = ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE;
const NONE = ActivationAction.ACTIVATION_ACTION_UNSPECIFIED;

/** Every numeric state the proto defines, plus UNRECOGNIZED and a number from a newer agent. */
const ALL_STATES: S[] = [...Object.values(S).filter((v): v is S => typeof v === "number"), 99 as S];

/** Expected [outcome, exit] for a final event after the agent went through PROFILE_SET/ACTIVATING. */
const ACTIVATE_SWITCH: Record<string, [Outcome, number]> = {
  UNSPECIFIED: ["uncertain", 3],
  PENDING: ["unchanged", 1],
  PROFILE_SET: ["uncertain", 3],
  ACTIVATING: ["uncertain", 3],
  ACTIVATED: ["uncertain", 3],
  UNITS_FAILED: ["uncertain", 3],
  REBOOT_REQUIRED: ["reboot-required", 4],
  FAILED: ["uncertain", 3],
  ROLLING_BACK: ["uncertain", 3],
  ROLLED_BACK: ["rolled-back", 2],
  ROLLBACK_FAILED: ["uncertain", 3],
  SUCCEEDED: ["succeeded", 0],
  DRY_RUN_DONE: ["uncertain", 3],
  ACTIVATION_FAILED: ["uncertain", 3],
  // Intermediate states of the health/confirmation phase: never an end.
  CHECKING_HEALTH: ["uncertain", 3],
  AWAITING_CONFIRMATION: ["uncertain", 3],
  UNHEALTHY: ["uncertain", 3],
  NOT_CONFIRMED: ["uncertain", 3],
  // Data steps (captures, migration, restores): never an end.
  SNAPSHOTTING: ["uncertain", 3],
  MIGRATING: ["uncertain", 3],
  PREPARED: ["uncertain", 3],
  RESTORING: ["uncertain", 3],
  // A switch whose change needs a reboot: boot default, running system unchanged.
  AWAITING_REBOOT: ["reboot-required", 4],
  STATE_UNRECOGNIZED: ["uncertain", 3],
  STATE_99: ["uncertain", 3],
};

const ROLLBACK: Record<string, [Outcome, number]> = {
  ...ACTIVATE_SWITCH,
  ROLLED_BACK: ["rolled-back", 2],
  SUCCEEDED: ["succeeded", 0],
};

/** What differs for the other actions. */
const ACTIVATE_BOOT: Record<string, [Outcome, number]> = {
  ...ACTIVATE_SWITCH,
  AWAITING_REBOOT: ["awaiting-reboot", 0],
};
const ACTIVATE_TEST: Record<string, [Outcome, number]> = {
  ...ACTIVATE_SWITCH,
  // test leaves the boot default alone: a reboot cannot be what it waits for.
  AWAITING_REBOOT: ["uncertain", 3],
};

const afterActivation = [
  S.DEPLOYMENT_STATE_PENDING,
  S.DEPLOYMENT_STATE_PROFILE_SET,
  S.DEPLOYMENT_STATE_ACTIVATING,
];

function key(state: S): string {
  return state === S.UNRECOGNIZED ? "STATE_UNRECOGNIZED" : stateName(state);
}

describe("judge: final states", () => {
  it("covers every state of the proto in the tables", () => {
    for (const state of ALL_STATES) expect(ACTIVATE_SWITCH[key(state)], key(state)).toBeDefined();
  });

  it.each(ALL_STATES.map((s) => [key(s), s] as const))("activate/switch, final %s", (name, state) => {
    const v = judge("activate", SWITCH, { kind: "final", state, earlier: afterActivation });
    expect([v.outcome, v.exitCode]).toEqual(ACTIVATE_SWITCH[name]);
    expect(v.reason).not.toBe("");
  });

  it.each(ALL_STATES.map((s) => [key(s), s] as const))("rollback, final %s", (name, state) => {
    const v = judge("rollback", NONE, { kind: "final", state, earlier: afterActivation });
    expect([v.outcome, v.exitCode]).toEqual(ROLLBACK[name]);
  });

  it.each(ALL_STATES.map((s) => [key(s), s] as const))("activate/boot and test, final %s", (name, state) => {
    const end = { kind: "final", state, earlier: afterActivation } as const;
    const boot = judge("activate", ActivationAction.ACTIVATION_ACTION_BOOT, end);
    expect([boot.outcome, boot.exitCode]).toEqual(ACTIVATE_BOOT[name]);
    const test = judge("activate", ActivationAction.ACTIVATION_ACTION_TEST, end);
    expect([test.outcome, test.exitCode]).toEqual(ACTIVATE_TEST[name]);
  });

  it("boot ending at AWAITING_REBOOT says it must be confirmed after the boot", () => {
    const v = judge("activate", ActivationAction.ACTIVATION_ACTION_BOOT, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_AWAITING_REBOOT,
      earlier: afterActivation,
    });
    expect(v.reason).toMatch(/boot default; after the next boot .* confirmed before the deadline/);
    expect(v.reason).toContain("ros-rollback confirm");
  });

  it.each([
    [RollbackReason.ROLLBACK_REASON_NOT_CONFIRMED, "not confirmed"],
    [RollbackReason.ROLLBACK_REASON_UNHEALTHY, "unhealthy"],
    [RollbackReason.ROLLBACK_REASON_ACTIVATION_FAILED, "activation failed"],
    [RollbackReason.ROLLBACK_REASON_MANUAL, "rolled back by an operator"],
    [RollbackReason.ROLLBACK_REASON_BOOT, "judged at boot"],
  ])("ROLLED_BACK with reason %s says why: %s", (rollbackReason, text) => {
    const v = judge("activate", SWITCH, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_ROLLED_BACK,
      earlier: afterActivation,
      rollbackReason,
    });
    expect([v.outcome, v.exitCode]).toEqual(["rolled-back", 2]);
    expect(v.reason).toBe(
      `the deployment was rolled back (${text}); the robot is back on the previous generation`,
    );
  });

  it("names every RollbackReason for JSON and text", () => {
    const all = Object.values(RollbackReason).filter((v): v is RollbackReason => typeof v === "number");
    expect(all.map(rollbackReasonName)).toEqual([
      null,
      "unhealthy",
      "not-confirmed",
      "activation-failed",
      "manual",
      "boot",
      "unrecognized",
    ]);
    for (const r of all) {
      if (r !== RollbackReason.ROLLBACK_REASON_UNSPECIFIED) expect(rollbackReasonText(r)).toBeTruthy();
    }
    expect(rollbackReasonText(RollbackReason.ROLLBACK_REASON_UNSPECIFIED)).toBeUndefined();
  });

  it("SUCCEEDED after NOT_CONFIRMED says it was kept without confirmation (magic rollback off)", () => {
    const v = judge("activate", SWITCH, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_SUCCEEDED,
      earlier: [
        ...afterActivation,
        S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
        S.DEPLOYMENT_STATE_NOT_CONFIRMED,
      ],
    });
    expect([v.outcome, v.exitCode]).toEqual(["succeeded", 0]);
    expect(v.reason).toMatch(/NOT confirmed and is kept because magic rollback is off/);
  });

  it("says the robot is back for a rolled-back deploy, and that the rollback failed for a rollback", () => {
    const end = { kind: "final", state: S.DEPLOYMENT_STATE_ROLLED_BACK, earlier: afterActivation } as const;
    expect(judge("activate", SWITCH, end).reason).toMatch(/deployment failed; the robot is back/);
    expect(judge("rollback", NONE, end).reason).toMatch(/rollback failed; the robot is back/);
  });

  it("FAILED right after PENDING means nothing changed (the agent's first step failed)", () => {
    const v = judge("activate", SWITCH, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_FAILED,
      earlier: [S.DEPLOYMENT_STATE_PENDING],
    });
    expect([v.outcome, v.exitCode]).toEqual(["unchanged", 1]);
  });

  it("FAILED in the data snapshot means nothing changed (issue 24: it said uncertain)", () => {
    for (const operation of ["activate", "rollback"] as const) {
      const v = judge(operation, SWITCH, {
        kind: "final",
        state: S.DEPLOYMENT_STATE_FAILED,
        earlier: [
          S.DEPLOYMENT_STATE_PENDING,
          S.DEPLOYMENT_STATE_SNAPSHOTTING,
          S.DEPLOYMENT_STATE_SNAPSHOTTING,
        ],
      });
      expect([v.outcome, v.exitCode, v.reason]).toEqual([
        "unchanged",
        1,
        "the data snapshot failed before anything changed; the robot is as it was",
      ]);
    }
  });

  it("FAILED right after PREPARED (the profile could not be set, no migration ran) means nothing changed", () => {
    const v = judge("activate", SWITCH, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_FAILED,
      earlier: [
        S.DEPLOYMENT_STATE_PENDING,
        S.DEPLOYMENT_STATE_SNAPSHOTTING,
        S.DEPLOYMENT_STATE_MIGRATING,
        S.DEPLOYMENT_STATE_PREPARED,
      ],
    });
    expect([v.outcome, v.exitCode]).toEqual(["unchanged", 1]);
    expect(v.reason).toMatch(/setting the profile failed after the data snapshot/);
  });

  it("FAILED after the data was restored, or after a failed migration, is not 'unchanged'", () => {
    for (const after of [S.DEPLOYMENT_STATE_RESTORING, S.DEPLOYMENT_STATE_ACTIVATION_FAILED]) {
      const v = judge("rollback", SWITCH, {
        kind: "final",
        state: S.DEPLOYMENT_STATE_FAILED,
        earlier: [
          S.DEPLOYMENT_STATE_PENDING,
          S.DEPLOYMENT_STATE_SNAPSHOTTING,
          S.DEPLOYMENT_STATE_MIGRATING,
          S.DEPLOYMENT_STATE_PREPARED,
          after,
        ],
      });
      expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
    }
  });

  it("FAILED without having seen the earlier events is uncertain", () => {
    const v = judge("activate", SWITCH, { kind: "final", state: S.DEPLOYMENT_STATE_FAILED, earlier: [] });
    expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
  });

  it("FAILED after the switch started is uncertain", () => {
    const v = judge("activate", SWITCH, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_FAILED,
      earlier: [...afterActivation, S.DEPLOYMENT_STATE_ACTIVATION_FAILED],
    });
    expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
  });

  it("dry-activate: DRY_RUN_DONE succeeds, a failure changed nothing", () => {
    const done = judge("activate", DRY, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_DRY_RUN_DONE,
      earlier: [],
    });
    expect([done.outcome, done.exitCode]).toEqual(["dry-run", 0]);
    const failed = judge("activate", DRY, {
      kind: "final",
      state: S.DEPLOYMENT_STATE_FAILED,
      earlier: [
        S.DEPLOYMENT_STATE_PENDING,
        S.DEPLOYMENT_STATE_ACTIVATING,
        S.DEPLOYMENT_STATE_ACTIVATION_FAILED,
      ],
    });
    expect([failed.outcome, failed.exitCode]).toEqual(["unchanged", 1]);
  });

  it("boot and test succeed with a reason naming what happened", () => {
    const end = { kind: "final", state: S.DEPLOYMENT_STATE_SUCCEEDED, earlier: [] } as const;
    expect(judge("activate", ActivationAction.ACTIVATION_ACTION_BOOT, end).reason).toMatch(/boot default/);
    expect(judge("activate", ActivationAction.ACTIVATION_ACTION_TEST, end).reason).toMatch(
      /until the next reboot/,
    );
  });
});
