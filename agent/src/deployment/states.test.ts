import { describe, expect, it } from "vitest";
import { DEPLOYMENT_EVENTS, DEPLOYMENT_STATES, isFinal, nextState, TRANSITIONS } from "./states.js";

describe("deployment transition table", () => {
  it("lists every state and event exactly once", () => {
    expect(new Set(DEPLOYMENT_STATES).size).toBe(DEPLOYMENT_STATES.length);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...DEPLOYMENT_STATES].sort());
    expect(new Set(DEPLOYMENT_EVENTS).size).toBe(DEPLOYMENT_EVENTS.length);
  });

  // Every (state, event) pair, so a change to the table is a visible change to this list.
  const expected: Record<string, string> = {
    "pending/profile_set": "profile_set",
    "pending/activation_started": "activating",
    "pending/error": "failed",
    "pending/snapshot_started": "snapshotting",
    "snapshotting/data_progress": "snapshotting",
    "snapshotting/snapshotted": "migrating",
    "snapshotting/restore_started": "restoring",
    "snapshotting/error": "failed",
    "migrating/data_progress": "migrating",
    "migrating/migrated": "prepared",
    "migrating/error": "activation_failed",
    "prepared/profile_set": "profile_set",
    "prepared/activation_started": "activating",
    "prepared/error": "activation_failed",
    "prepared/abandoned": "failed",
    "restoring/data_progress": "restoring",
    "restoring/restored": "rolling_back",
    "restoring/restored_before_switch": "prepared",
    "restoring/error": "rollback_failed",
    "unhealthy/restore_started": "restoring",
    "not_confirmed/restore_started": "restoring",
    "units_failed/restore_started": "restoring",
    "activation_failed/restore_started": "restoring",
    "profile_set/activation_started": "activating",
    "profile_set/error": "activation_failed",
    "activating/exited_ok": "activated",
    "activating/exited_units_failed": "units_failed",
    "activating/exited_reboot_required": "reboot_required",
    "activating/boot_scheduled": "awaiting_reboot",
    "activating/exited_failed": "activation_failed",
    "activating/error": "activation_failed",
    "activated/health_started": "checking_health",
    "activated/boot_scheduled": "awaiting_reboot",
    "activated/dry_run_finished": "dry_run_done",
    "awaiting_reboot/booted": "checking_health",
    "awaiting_reboot/error": "failed",
    "awaiting_reboot/boot_fell_back": "rolling_back",
    "reboot_required/booted": "checking_health",
    "reboot_required/boot_fell_back": "rolling_back",
    "reboot_required/error": "failed",
    "checking_health/boot_fell_back": "rolling_back",
    "awaiting_confirmation/boot_fell_back": "rolling_back",
    "awaiting_reboot/restore_started": "restoring",
    "reboot_required/restore_started": "restoring",
    "checking_health/restore_started": "restoring",
    "awaiting_confirmation/restore_started": "restoring",
    "checking_health/healthy": "awaiting_confirmation",
    "checking_health/confirmed": "succeeded",
    "checking_health/unhealthy": "unhealthy",
    "awaiting_confirmation/confirmed": "succeeded",
    "awaiting_confirmation/unhealthy": "unhealthy",
    "awaiting_confirmation/deadline_passed": "not_confirmed",
    "awaiting_confirmation/kept": "succeeded",
    "unhealthy/rollback_started": "rolling_back",
    "unhealthy/give_up": "failed",
    "not_confirmed/rollback_started": "rolling_back",
    "not_confirmed/give_up": "failed",
    "units_failed/units_ignored": "checking_health",
    "units_failed/rollback_started": "rolling_back",
    "units_failed/give_up": "failed",
    "activation_failed/rollback_started": "rolling_back",
    "activation_failed/give_up": "failed",
    "rolling_back/rollback_finished": "rolled_back",
    "rolling_back/rollback_error": "rollback_failed",
  };
  for (const s of DEPLOYMENT_STATES) {
    for (const e of DEPLOYMENT_EVENTS) {
      const want = expected[`${s}/${e}`];
      it(`${s} --${e}--> ${want ?? "(illegal)"}`, () => {
        expect(nextState(s, e)).toBe(want);
      });
    }
  }

  it("final states are those without way out, and reboot_required (only a later boot moves it on)", () => {
    expect(DEPLOYMENT_STATES.filter(isFinal).sort()).toEqual(
      ["dry_run_done", "failed", "reboot_required", "rollback_failed", "rolled_back", "succeeded"].sort(),
    );
  });

  it("every non-final state can reach a final state", () => {
    for (const s of DEPLOYMENT_STATES) {
      const seen = new Set([s]);
      const queue = [s];
      let reachesFinal = isFinal(s);
      while (queue.length > 0 && !reachesFinal) {
        const cur = queue.shift();
        if (cur === undefined) break;
        for (const to of Object.values(TRANSITIONS[cur])) {
          if (to === undefined || seen.has(to)) continue;
          if (isFinal(to)) reachesFinal = true;
          seen.add(to);
          queue.push(to);
        }
      }
      expect(reachesFinal, s).toBe(true);
    }
  });
});
