import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  ActivationAction,
  type DeploymentEvent,
  DeploymentState,
  type GetStatusResponse,
} from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { deadline, events, SELF_CONFIRM, useDeployingServer } from "../testing/deploying-server.js";

process.env.NIX_CONFIG = "build-users-group =";
const hash = "0".repeat(32);

// Activate, Confirm and holds over the agent's gRPC server with mutual TLS on
// 127.0.0.1 (testing/deploying-server.ts), on a real Deployer and Nix profile.
const srv = useDeployingServer();

describe("agent gRPC server over mutual TLS", () => {
  it.each([
    ["/nix/store/short-name"],
    [`/nix/store/${hash}-..`],
    [`/nix/store/${hash}-a/../../etc`],
    [`/tmp/${hash}-x`],
    [""],
  ])("gives INVALID_ARGUMENT for the malformed path %j", async (p) => {
    const err = await events(srv.client(), p, ActivationAction.ACTIVATION_ACTION_SWITCH).catch(
      (e: ServiceError) => e,
    );
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
  });

  it("gives INVALID_ARGUMENT for an unknown action", async () => {
    const err = await events(srv.client(), srv.systemPath, 42 as ActivationAction).catch(
      (e: ServiceError) => e,
    );
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as ServiceError).details).toMatch(/unknown activation action/);
  });

  it("streams a deployment's events to the end", async () => {
    const evs = await events(srv.client(), srv.systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH);
    const states = evs.map((e) => e.state);
    expect(states.filter((s, i) => s !== states[i - 1])).toEqual([
      DeploymentState.DEPLOYMENT_STATE_PENDING,
      DeploymentState.DEPLOYMENT_STATE_PROFILE_SET,
      DeploymentState.DEPLOYMENT_STATE_ACTIVATING,
      DeploymentState.DEPLOYMENT_STATE_ACTIVATED,
      DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH,
      DeploymentState.DEPLOYMENT_STATE_SUCCEEDED,
    ]);
    expect(evs.find((e) => e.health !== undefined)?.health?.checks[0]?.id).toBe("unit:talker.service");
    expect(evs.at(-1)).toMatchObject({ final: true, generation: 1 });
    expect(new Set(evs.map((e) => e.deploymentId)).size).toBe(1);
  });

  it("keeps the options' opaque label with the deployment and shows it in GetStatus", async () => {
    const label = "rollout=r-20261129-abc strategy=canary:1,batch:2";
    const evs = await events(srv.client(), srv.systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH, {
      ...SELF_CONFIRM,
      label,
    });
    expect(evs.at(-1)).toMatchObject({ final: true });
    const c = srv.client();
    const st = await new Promise<GetStatusResponse>((res, rej) =>
      c.getStatus({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
    );
    c.close();
    expect(st.lastDeployment?.id).toBe(evs.at(-1)?.deploymentId);
    expect(st.lastDeployment?.options?.label).toBe(label);
  });

  it.each([
    ["too long", "x".repeat(513)],
    ["not printable", "rollout=r-1\nstrategy=all"],
  ])("gives INVALID_ARGUMENT for a label that is %s, and starts nothing", async (_, label) => {
    const err = await events(srv.client(), srv.systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH, {
      ...SELF_CONFIRM,
      label,
    }).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as ServiceError).details).toMatch(
      /options\.label must be printable ASCII of at most 512 bytes/,
    );
  });

  it("waits for Confirm, which a NEW client sends; Confirm of an unknown id is NOT_FOUND", async () => {
    const watcher = srv.client();
    let confirmed: Promise<unknown> | undefined;
    const evs = await events(
      watcher,
      srv.systemPath,
      ActivationAction.ACTIVATION_ACTION_TEST,
      { ...SELF_CONFIRM, selfConfirm: false, confirmTimeoutSeconds: 20 },
      (e) => {
        if (e.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION && confirmed === undefined) {
          expect(e.confirmDeadlineUnixMs).toBeGreaterThan(Date.now());
          const fresh = srv.client();
          confirmed = new Promise((res, rej) =>
            fresh.confirm({ deploymentId: e.deploymentId }, (err, r) => (err ? rej(err) : res(r))),
          ).finally(() => fresh.close());
        }
      },
    );
    await expect(confirmed).resolves.toMatchObject({
      deployment: { state: DeploymentState.DEPLOYMENT_STATE_SUCCEEDED },
    });
    expect(evs.at(-1)?.state).toBe(DeploymentState.DEPLOYMENT_STATE_SUCCEEDED);
    const err = await new Promise<ServiceError | null>((res) =>
      watcher.confirm({ deploymentId: "d-nope" }, (e) => res(e)),
    );
    expect(err?.code).toBe(status.NOT_FOUND);
    watcher.close();
  });

  it("refuses Activate while held: FAILED_PRECONDITION with the trailer code HELD, naming the hold", async () => {
    await srv.holds.store.set("operator", "filming a demo", undefined);
    try {
      const err = (await events(
        srv.client(),
        srv.systemPath,
        ActivationAction.ACTIVATION_ACTION_SWITCH,
      ).catch((e: ServiceError) => e)) as ServiceError;
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.details).toBe(
        'the robot is held: command hold "operator": filming a demo (to go ahead anyway: --override-hold operator)',
      );
      expect(err.metadata.get("ros-rollback-error-code")).toEqual(["HELD"]);
    } finally {
      await srv.holds.store.release("operator");
    }
  });

  it("gives FAILED_PRECONDITION to a second Activate while one runs, naming it", async () => {
    const c = srv.client();
    const first = c.activate({
      storePath: srv.slowPath,
      action: ActivationAction.ACTIVATION_ACTION_TEST,
      options: SELF_CONFIRM,
      overrideHolds: [],
    });
    const firstId = await new Promise<string>((res) =>
      first.once("data", (e: DeploymentEvent) => res(e.deploymentId)),
    );
    const err = await events(c, srv.systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH).catch(
      (e: ServiceError) => e,
    );
    expect((err as ServiceError).code).toBe(status.FAILED_PRECONDITION);
    expect((err as ServiceError).details).toContain(firstId);
    // Not a hold: a controller must not wait for release here.
    expect((err as ServiceError).metadata.get("ros-rollback-error-code")).toEqual(["FAILED_PRECONDITION"]);
    first.on("error", () => {
      // Cancelling our own watch ends the stream with CANCELLED; the deployment goes on.
    });
    first.cancel();
  });
});
