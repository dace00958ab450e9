import { status } from "@grpc/grpc-js";
import {
  type ConfirmResponse,
  type DeploymentEvent,
  type GetStatusResponse,
  DeploymentState as S,
} from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { type AgentApi, AgentCallError } from "../../agent-api.js";
import { sleep } from "../../core/io.js";
import { fullEvent } from "../../testing/fake-agent.js";
import { type FollowOptions, followDeployment } from "./follow.js";

// followDeployment on in-memory streams and connections: the parts that are
// about time (a silent stream, a robot whose clock is off) without a network.

const ev = (state: S, extra: Partial<DeploymentEvent> = {}) =>
  fullEvent({ deploymentId: "d-1", state, timestampUnixMs: Date.now(), generation: 42, ...extra });

/** Yields the events, then stays silent until aborted (like a connection that died without a word). */
function silentAfter(events: DeploymentEvent[]): (signal: AbortSignal) => AsyncIterable<DeploymentEvent> {
  return (signal) =>
    (async function* () {
      yield* events;
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    })();
}

function fakeApi(answers: Partial<AgentApi>): AgentApi {
  const missing = (name: string) => () => {
    throw new Error(`fake api: ${name} not set up`);
  };
  return {
    target: { name: "r1", address: "x:1", caFile: "", certFile: "", keyFile: "", serverName: undefined },
    getStatus: missing("getStatus"),
    listGenerations: missing("listGenerations"),
    collectGarbage: missing("collectGarbage"),
    getAuditLog: missing("getAuditLog"),
    queryMissingPaths: missing("queryMissingPaths"),
    pushPaths: missing("pushPaths"),
    querySubstitutable: missing("querySubstitutable"),
    substitute: missing("substitute"),
    activate: missing("activate"),
    rollback: missing("rollback"),
    confirm: missing("confirm"),
    checkHealth: missing("checkHealth"),
    watch: missing("watch"),
    plan: missing("plan"),
    hold: missing("hold"),
    release: missing("release"),
    listHolds: missing("listHolds"),
    close: () => undefined,
    ...answers,
  };
}

function options(
  o: Partial<FollowOptions> & Pick<FollowOptions, "connect">,
): FollowOptions & { lines: string[] } {
  const lines: string[] = [];
  return {
    target: "r1",
    log: (l) => lines.push(l),
    onEvent: () => undefined,
    signal: new AbortController().signal,
    now: Date.now,
    sleep: (ms, signal) => sleep(Math.min(ms, 10), signal),
    connectTimeoutMs: 1_000,
    followTimeoutMs: 5_000,
    reconnectGraceMs: 1_000,
    pollIntervalMs: 10,
    confirm: true,
    lines,
    ...o,
  };
}

const succeeded: GetStatusResponse = {
  agentVersion: "",
  hostname: "",
  currentSystem: "",
  currentGeneration: 42,
  profileSystem: "",
  holds: [],
  lastDeployment: {
    id: "d-1",
    state: S.DEPLOYMENT_STATE_SUCCEEDED,
    action: 1,
    storePath: "",
    generation: 42,
    previousGeneration: 41,
    previousStorePath: "",
    startedAtUnixMs: 0,
    updatedAtUnixMs: 0,
    message: "confirmed",
    kind: 1,
    confirmDeadlineUnixMs: 0,
    rollbackReason: 0,
    options: undefined,
    snapshots: [],
    restores: [],
    unitChanges: undefined,
    rollbackUnitChanges: undefined,
    overriddenHolds: [],
    startedBy: "",
  },
};

describe("followDeployment", () => {
  it("takes a stream that falls silent while the agent judges health as dead, and asks over a new connection", async () => {
    let connections = 0;
    const o = options({
      stallMs: 50,
      connect: async () => {
        connections++;
        return fakeApi({ getStatus: async () => succeeded });
      },
    });
    const started = Date.now();
    const followed = await followDeployment(
      silentAfter([ev(S.DEPLOYMENT_STATE_ACTIVATED), ev(S.DEPLOYMENT_STATE_CHECKING_HEALTH)]),
      o,
    );
    expect(followed.end).toEqual({
      kind: "final",
      state: S.DEPLOYMENT_STATE_SUCCEEDED,
      earlier: [],
      rollbackReason: 0,
    });
    // The outcome is known: the silence is how it was lost, named in the note, not an error.
    expect(followed.error).toBeUndefined();
    expect(followed.note).toMatch(
      /after the event stream broke \(DEADLINE_EXCEEDED: no event from the agent for [\d.]+ s while CHECKING_HEALTH\)$/,
    );
    expect(connections).toBe(1);
    expect(Date.now() - started).toBeLessThan(4_000); // not the 5 s follow timeout
  });

  it("does not take silence during ACTIVATING as death (a switch may take minutes)", async () => {
    const stop = new AbortController();
    const o = options({ stallMs: 20, signal: stop.signal, connect: async () => fakeApi({}) });
    setTimeout(() => stop.abort(new Error("test over")), 200);
    const followed = await followDeployment(silentAfter([ev(S.DEPLOYMENT_STATE_ACTIVATING)]), o);
    expect(followed.end).toEqual({ kind: "interrupted", lastState: S.DEPLOYMENT_STATE_ACTIVATING });
  });

  it("a robot whose clock is an hour behind: confirms until the deadline as counted from the event", async () => {
    const hour = 3_600_000;
    const agentNow = Date.now() - hour;
    let attempts = 0;
    let confirmed = false;
    const o = options({
      connect: async () => {
        attempts++;
        if (attempts < 3) throw new AgentCallError("r1", status.UNAVAILABLE, "not yet");
        return fakeApi({
          confirm: async (): Promise<ConfirmResponse> => {
            confirmed = true;
            return { deployment: undefined };
          },
        });
      },
    });
    const events = [
      ev(S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION, {
        timestampUnixMs: agentNow,
        confirmDeadlineUnixMs: agentNow + 500,
      }),
    ];
    const followed = await followDeployment(
      (signal) =>
        (async function* () {
          yield* events;
          await sleep(150, signal);
          yield ev(S.DEPLOYMENT_STATE_SUCCEEDED, { final: true });
        })(),
      o,
    );
    expect(confirmed).toBe(true);
    expect(attempts).toBe(3);
    expect(followed.confirmation).toEqual({ deploymentId: "d-1", confirmed: true, error: undefined });
    expect(o.lines).toContain("r1: cannot confirm yet (r1: UNAVAILABLE: not yet); 0.5 s left, retrying");
  });

  it("with --no-confirm never opens a connection to confirm", async () => {
    const o = options({
      confirm: false,
      connect: async () => {
        throw new Error("must not connect");
      },
    });
    const followed = await followDeployment(
      async function* () {
        yield ev(S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION, { confirmDeadlineUnixMs: Date.now() + 100 });
        yield ev(S.DEPLOYMENT_STATE_SUCCEEDED, { final: true });
      } as () => AsyncIterable<DeploymentEvent>,
      o,
    );
    expect(followed.end.kind).toBe("final");
    expect(followed.confirmation).toBeUndefined();
    expect(o.lines).toEqual(["r1: not confirming d-1 (--no-confirm)"]);
  });
});
