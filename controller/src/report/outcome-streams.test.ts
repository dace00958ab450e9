// judge() for streams that ended without a final event: status errors, interrupts, silence.
import { status } from "@grpc/grpc-js";
import { ActivationAction, DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { isRefusal, judge } from "./outcome.js";

const SWITCH = ActivationAction.ACTIVATION_ACTION_SWITCH;
const NONE = ActivationAction.ACTIVATION_ACTION_UNSPECIFIED;

describe("judge: streams without a final event", () => {
  const codes = Object.values(status).filter((v): v is status => typeof v === "number" && v !== status.OK);

  it.each(codes.map((c) => [status[c], c] as const))("status %s before any event", (_name, code) => {
    const v = judge("activate", SWITCH, { kind: "error", code, lastState: undefined });
    if (isRefusal(code)) expect([v.outcome, v.exitCode]).toEqual(["unchanged", 1]);
    else expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
  });

  it("counts exactly the codes with which an agent refuses up front as refusals", () => {
    expect(codes.filter(isRefusal).map((c) => status[c])).toEqual([
      "INVALID_ARGUMENT",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "UNAUTHENTICATED",
    ]);
  });

  it("any status after an event is uncertain, even a refusal code", () => {
    for (const code of codes) {
      const v = judge("activate", SWITCH, { kind: "error", code, lastState: S.DEPLOYMENT_STATE_PENDING });
      expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
    }
  });

  it("a stream that ends OK without a final event is uncertain", () => {
    const v = judge("rollback", NONE, { kind: "no-final", lastState: S.DEPLOYMENT_STATE_ACTIVATING });
    expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
    expect(v.reason).toMatch(/after ACTIVATING/);
  });

  it("leaving while the agent waits for confirmation says it will roll back unless confirmed", () => {
    for (const end of [
      { kind: "interrupted", lastState: S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION },
      { kind: "error", code: status.UNAVAILABLE, lastState: S.DEPLOYMENT_STATE_CHECKING_HEALTH },
      { kind: "no-final", lastState: S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION },
    ] as const) {
      const v = judge("activate", SWITCH, end);
      expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
      expect(v.reason).toMatch(/rolls back unless the deployment is confirmed .*ros-rollback confirm/);
    }
  });

  it("an interrupt is uncertain and says the agent carries on", () => {
    const v = judge("activate", SWITCH, { kind: "interrupted", lastState: undefined });
    expect([v.outcome, v.exitCode]).toEqual(["uncertain", 3]);
    expect(v.reason).toMatch(/carries on with the deployment/);
    expect(v.reason).toMatch(/ros-rollback status/);
  });
});
