import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import {
  type ActivateRequest,
  AGENT_ERROR_CODE_KEY,
  AgentService,
  type CollectGarbageRequest,
  type CollectGarbageResponse,
  type ConfirmRequest,
  type ConfirmResponse,
  type DeploymentEvent,
  DeploymentState,
  type GetAuditLogRequest,
  type GetAuditLogResponse,
  type GetStatusResponse,
  type HealthReport,
  type HoldRequest,
  type HoldResponse,
  type ListGenerationsResponse,
  type ListHoldsResponse,
  type PlanRequest,
  type PlanResponse,
  type PushPathsRequest,
  type PushPathsResponse,
  type QuerySubstitutableResponse,
  type ReleaseRequest,
  type ReleaseResponse,
  type RollbackRequest,
  type SubstituteProgress,
} from "@ros-rollback/proto";
import type { TestPki } from "./pki.js";

/** A status the fake answers with; `agentCode` goes into the trailer like the real agent's. */
export interface FakeError {
  readonly error: { readonly code: grpc.status; readonly details: string; readonly agentCode?: string };
}

/** An answer that never comes (the call stays open until the client gives up). */
export interface FakeHang {
  readonly hang: true;
}

/** One step of a scripted Activate/Rollback stream. The stream ends OK after the last step. */
export type StreamStep =
  | { readonly event: Partial<DeploymentEvent> }
  | FakeError
  /** Keep the stream open until the client cancels. */
  | { readonly hang: true };

/** A scripted stream: a list, or steps produced over time (the stream ends when the iterable does). */
export type StreamScript = StreamStep[] | AsyncIterable<StreamStep>;

/** What the fake answers; a call without a handler fails UNIMPLEMENTED (so tests see unexpected calls). */
export interface FakeHandlers {
  /** A promise: the answer when it settles (a test makes the call wait for something it sees). */
  getStatus?: () => GetStatusResponse | FakeError | FakeHang | Promise<GetStatusResponse | FakeError>;
  listGenerations?: () => ListGenerationsResponse | FakeError | FakeHang;
  queryMissingPaths?: (storePaths: string[]) => string[] | FakeError | FakeHang;
  pushPaths?: (received: PushPathsRequest[]) => PushPathsResponse | FakeError | FakeHang;
  querySubstitutable?: (storePaths: string[]) => QuerySubstitutableResponse | FakeError | FakeHang;
  /** Progress messages, then OK; a FakeError step ends the stream with it, a FakeHang keeps it open. */
  substitute?: (storePaths: string[]) => (SubstituteProgress | FakeError | FakeHang)[];
  activate?: (request: ActivateRequest) => StreamScript;
  rollback?: (request: RollbackRequest) => StreamScript;
  confirm?: (request: ConfirmRequest) => ConfirmResponse | FakeError | FakeHang;
  checkHealth?: () => HealthReport | FakeError | FakeHang;
  watch?: () => StreamScript;
  plan?: (request: PlanRequest) => PlanResponse | FakeError | FakeHang;
  hold?: (request: HoldRequest) => HoldResponse | FakeError | FakeHang;
  release?: (request: ReleaseRequest) => ReleaseResponse | FakeError | FakeHang;
  listHolds?: () => ListHoldsResponse | FakeError | FakeHang;
  collectGarbage?: (request: CollectGarbageRequest) => CollectGarbageResponse | FakeError | FakeHang;
  getAuditLog?: (request: GetAuditLogRequest) => GetAuditLogResponse | FakeError | FakeHang;
}

export interface FakeCall {
  readonly method: string;
  readonly request: unknown;
  /** The client's address as the server saw it ("127.0.0.1:PORT"): one per TCP (and TLS) connection. */
  readonly peer: string;
}

export interface FakeAgent {
  readonly port: number;
  /** Replace per test. */
  handlers: FakeHandlers;
  /** Every call, in order. */
  readonly calls: FakeCall[];
  /** Methods whose call the client cancelled. */
  readonly cancelled: string[];
  close(): Promise<void>;
}

function isFakeError(v: unknown): v is FakeError {
  return typeof v === "object" && v !== null && "error" in v;
}

function isFakeHang(v: unknown): v is FakeHang {
  return typeof v === "object" && v !== null && "hang" in v;
}

function toStatus(e: FakeError["error"]): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (e.agentCode !== undefined) metadata.set(AGENT_ERROR_CODE_KEY, e.agentCode);
  return { code: e.code, details: e.details, metadata };
}

const notSetUp = (method: string): Partial<grpc.StatusObject> => ({
  code: grpc.status.UNIMPLEMENTED,
  details: `fake agent: ${method} not set up in this test`,
});

/** Proto defaults for the fields a partial event leaves out. */
export function fullEvent(e: Partial<DeploymentEvent>): DeploymentEvent {
  return {
    deploymentId: "",
    state: DeploymentState.DEPLOYMENT_STATE_UNSPECIFIED,
    timestampUnixMs: 0,
    message: "",
    generation: 0,
    previousGeneration: 0,
    final: false,
    confirmDeadlineUnixMs: 0,
    unitChanges: undefined,
    rollbackUnitChanges: undefined,
    rollbackReason: 0,
    ...e,
  };
}

/** An event with the defaults a real agent fills in. */
export function event(state: DeploymentState, extra: Partial<DeploymentEvent> = {}): StreamStep {
  return {
    event: {
      deploymentId: "d-test-1",
      state,
      timestampUnixMs: 1_700_000_000_000,
      message: "",
      generation: 0,
      previousGeneration: 0,
      final: false,
      ...extra,
    },
  };
}

export async function startFakeAgent(pki: TestPki, handlers: FakeHandlers = {}): Promise<FakeAgent> {
  const server = new grpc.Server();
  const state: FakeAgent = {
    port: 0,
    handlers,
    calls: [],
    cancelled: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };

  function unary<Req, Res>(
    method: string,
    answer: (req: Req) => Res | FakeError | FakeHang | Promise<Res | FakeError> | undefined,
  ) {
    return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
      state.calls.push({ method, request: call.request, peer: call.getPeer() });
      const res = answer(call.request);
      if (res instanceof Promise) {
        void res.then(
          (r) => (isFakeError(r) ? callback(toStatus(r.error), null) : callback(null, r)),
          (e: unknown) => callback({ code: grpc.status.INTERNAL, details: String(e) }, null),
        );
      } else if (res === undefined) callback(notSetUp(method), null);
      else if (isFakeHang(res)) call.on("cancelled", () => state.cancelled.push(method));
      else if (isFakeError(res)) callback(toStatus(res.error), null);
      else callback(null, res);
    };
  }

  function stream<Req>(method: string, script: (req: Req) => StreamScript | undefined) {
    return (call: grpc.ServerWritableStream<Req, DeploymentEvent>) => {
      state.calls.push({ method, request: call.request, peer: call.getPeer() });
      let cancelled = false;
      call.on("cancelled", () => {
        cancelled = true;
        state.cancelled.push(method);
      });
      const steps = script(call.request);
      if (steps === undefined) {
        call.emit("error", notSetUp(method));
        return;
      }
      void (async () => {
        for await (const step of steps) {
          if (cancelled) return;
          if ("hang" in step) return;
          if ("error" in step) {
            call.emit("error", toStatus(step.error));
            return;
          }
          call.write(fullEvent(step.event));
        }
        if (!cancelled) call.end();
      })();
    };
  }

  server.addService(AgentService, {
    getStatus: unary("getStatus", () => state.handlers.getStatus?.()),
    listGenerations: unary("listGenerations", () => state.handlers.listGenerations?.()),
    collectGarbage: unary("collectGarbage", (req: CollectGarbageRequest) =>
      state.handlers.collectGarbage?.(req),
    ),
    queryMissingPaths: unary("queryMissingPaths", (req: { storePaths: string[] }) => {
      const res = state.handlers.queryMissingPaths?.(req.storePaths);
      return res === undefined || isFakeError(res) || isFakeHang(res) ? res : { missing: res };
    }),
    pushPaths: (
      call: grpc.ServerReadableStream<PushPathsRequest, PushPathsResponse>,
      callback: grpc.sendUnaryData<PushPathsResponse>,
    ) => {
      const received: PushPathsRequest[] = [];
      call.on("data", (m: PushPathsRequest) => received.push(m));
      call.on("cancelled", () => state.cancelled.push("pushPaths"));
      call.on("end", () => {
        state.calls.push({ method: "pushPaths", request: received, peer: call.getPeer() });
        const res = state.handlers.pushPaths?.(received);
        if (res === undefined) callback(notSetUp("pushPaths"), null);
        else if (isFakeHang(res)) return;
        else if (isFakeError(res)) callback(toStatus(res.error), null);
        else callback(null, res);
      });
    },
    querySubstitutable: unary("querySubstitutable", (req: { storePaths: string[] }) =>
      state.handlers.querySubstitutable?.(req.storePaths),
    ),
    substitute: (call: grpc.ServerWritableStream<{ storePaths: string[] }, SubstituteProgress>) => {
      state.calls.push({ method: "substitute", request: call.request, peer: call.getPeer() });
      let cancelled = false;
      call.on("cancelled", () => {
        cancelled = true;
        state.cancelled.push("substitute");
      });
      const steps = state.handlers.substitute?.(call.request.storePaths);
      if (steps === undefined) {
        call.emit("error", notSetUp("substitute"));
        return;
      }
      for (const step of steps) {
        if (cancelled || isFakeHang(step)) return;
        if (isFakeError(step)) {
          call.emit("error", toStatus(step.error));
          return;
        }
        call.write(step);
      }
      call.end();
    },
    activate: stream("activate", (req: ActivateRequest) => state.handlers.activate?.(req)),
    rollback: stream("rollback", (req: RollbackRequest) => state.handlers.rollback?.(req)),
    confirm: unary("confirm", (req: ConfirmRequest) => state.handlers.confirm?.(req)),
    checkHealth: unary("checkHealth", () => state.handlers.checkHealth?.()),
    watch: stream("watch", () => state.handlers.watch?.()),
    plan: unary("plan", (req: PlanRequest) => state.handlers.plan?.(req)),
    hold: unary("hold", (req: HoldRequest) => state.handlers.hold?.(req)),
    release: unary("release", (req: ReleaseRequest) => state.handlers.release?.(req)),
    listHolds: unary("listHolds", () => state.handlers.listHolds?.()),
    getAuditLog: unary("getAuditLog", (req: GetAuditLogRequest) => state.handlers.getAuditLog?.(req)),
  });

  const credentials = grpc.ServerCredentials.createSsl(
    readFileSync(pki.ca),
    [{ private_key: readFileSync(pki.serverKey), cert_chain: readFileSync(pki.serverCert) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return Object.assign(state, { port });
}
