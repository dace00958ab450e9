import { hostname } from "node:os";
import {
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import type {
  ActivateRequest,
  AgentServer,
  DeploymentEvent,
  GetAuditLogRequest,
  GetAuditLogResponse,
  GetStatusResponse,
  PushPathsRequest,
  RollbackRequest,
  SubstituteProgress,
  SubstituteRequest,
} from "@ros-rollback/proto";
import type { Logger } from "pino";
import { BOOT_COUNTING_OFF, type BootConfig, checkReboot } from "../boot/config.js";
import type { Deployer } from "../deployment/deployer.js";
import type { SystemInspector } from "../deployment/ports.js";
import type { DeploymentRecord, HealthSummary } from "../deployment/record.js";
import { isFinal } from "../deployment/states.js";
import { AgentError } from "../errors.js";
import type { GcPort } from "../gc/port.js";
import type { SystemProfile } from "../generations/profile.js";
import { overrideHoldsFromPb } from "../holds/override.js";
import type { StorePort } from "../store/store-port.js";
import { callPushClient, clientIdentity, startedBy } from "./client-identity.js";
import {
  actionFromPb,
  deploymentIdFromPb,
  deploymentToPb,
  deployRequestFromPb,
  endsStream,
  eventFromRecord,
  healthToPb,
} from "./convert.js";
import { holdToPb } from "./convert-changes.js";
import { gcReportToPb, spaceToPb } from "./convert-gc.js";
import { decoded, decodedStream } from "./decode.js";
import { type PlanHoldsDeps, planHoldsHandlers } from "./plan-holds.js";
import { toStatus } from "./status.js";

export interface ServiceDeps {
  readonly version: string;
  readonly deployer: Deployer;
  readonly profile: SystemProfile;
  readonly system: SystemInspector;
  readonly store: StorePort;
  readonly validateStorePath: (path: string) => void;
  /** One health round now with the configured checks. */
  readonly checkHealth: (signal: AbortSignal) => Promise<HealthSummary>;
  readonly log: Logger;
  readonly holds: PlanHoldsDeps["holds"];
  readonly planner: PlanHoldsDeps["planner"];
  /** Garbage collection; absent: CollectGarbage is UNIMPLEMENTED and status shows no space. */
  readonly gc?: GcPort | undefined;
  /** GetAuditLog; default: an empty log (rigs without one). */
  readonly auditLog?: (req: GetAuditLogRequest) => Promise<GetAuditLogResponse>;
  /** Boot counting (config boot); default off: Activate refuses `reboot`. */
  readonly boot?: BootConfig | undefined;
}

/** gRPC handlers: decode, delegate, encode. Errors all leave through toStatus(). */
export function agentService(d: ServiceDeps): AgentServer {
  // The newest health report, from a deployment or from CheckHealth, for GetStatus.
  let lastSnapshot: HealthSummary | undefined;
  const latestHealth = (): HealthSummary | undefined => {
    const dep = d.deployer.latest()?.health;
    return dep === undefined || (lastSnapshot !== undefined && lastSnapshot.at > dep.at) ? lastSnapshot : dep;
  };
  const unary =
    <Req, Res>(method: string, fn: (req: Req, signal: AbortSignal) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const ac = new AbortController();
      call.on("cancelled", () => ac.abort());
      Promise.resolve()
        .then(() => fn(decoded(call.request, method), ac.signal))
        .then(
          (res) => callback(null, res),
          (e: unknown) => callback(toStatus(e, d.log, method), null),
        );
    };

  return {
    getStatus: unary("GetStatus", async (_req, signal): Promise<GetStatusResponse> => {
      const [current, running] = await Promise.all([d.profile.current(), d.system.runningSystem()]);
      const active = d.deployer.active();
      const latest = d.deployer.latest();
      const [holds, space] = await Promise.all([
        d.holds.current(signal).then((hs) => hs.map(holdToPb)),
        d.gc?.space(),
      ]);
      // A deploy asks for the status, then which paths are missing: nix-store starts once this answer is sent (issue 13).
      setImmediate(() => d.store.prepareQuery());
      return {
        agentVersion: d.version,
        hostname: hostname(),
        currentSystem: running ?? "",
        currentGeneration: current?.number ?? 0,
        profileSystem: current?.storePath ?? "",
        deployment: active ? deploymentToPb(active) : undefined,
        lastDeployment: latest && isFinal(latest.state) ? deploymentToPb(latest) : undefined,
        health: ((h) => (h ? healthToPb(h) : undefined))(latestHealth()),
        holds,
        space: spaceToPb(space),
      };
    }),

    collectGarbage: unary("CollectGarbage", async (req) => {
      if (d.gc === undefined)
        throw new AgentError("FAILED_PRECONDITION", "this agent is not set up to collect garbage");
      const report = await d.gc.collect(req.dryRun);
      return gcReportToPb(report, await d.gc.space());
    }),

    ...planHoldsHandlers(
      {
        holds: d.holds,
        planner: d.planner,
        validateStorePath: d.validateStorePath,
        activeDeployment: () => d.deployer.active()?.id,
      },
      unary,
    ),

    confirm: unary("Confirm", async (req: { deploymentId: string }) => ({
      deployment: deploymentToPb(await d.deployer.confirm(deploymentIdFromPb(req.deploymentId))),
    })),

    checkHealth: unary("CheckHealth", async (_req, signal) => {
      lastSnapshot = await d.checkHealth(signal);
      return healthToPb(lastSnapshot);
    }),

    watch: (call: ServerWritableStream<unknown, DeploymentEvent>) => {
      try {
        decoded(call.request, "Watch");
      } catch (e) {
        failStream(call, toStatus(e, d.log, "Watch"));
        return;
      }
      const latest = d.deployer.latest();
      if (latest === undefined) {
        call.end();
        return;
      }
      call.write(eventFromRecord(latest));
      if (endsStream(latest)) {
        call.end();
        return;
      }
      const off = d.deployer.subscribe((r) => {
        call.write(eventFromRecord(r));
        if (endsStream(r)) {
          off();
          call.end();
        }
      });
      call.on("cancelled", off);
    },

    getAuditLog: unary(
      "GetAuditLog",
      async (req: GetAuditLogRequest): Promise<GetAuditLogResponse> =>
        d.auditLog === undefined ? { entries: [], skippedLines: 0, truncated: false } : d.auditLog(req),
    ),

    listGenerations: unary("ListGenerations", async () => {
      const gens = await d.profile.list();
      return {
        generations: gens.map((g) => ({
          number: g.number,
          storePath: g.storePath,
          createdAtUnixMs: g.createdAt.getTime(),
          current: g.current,
        })),
      };
    }),

    queryMissingPaths: unary("QueryMissingPaths", async (req: { storePaths: string[] }, signal) => ({
      missing: await d.store.queryMissing(req.storePaths, signal),
    })),

    querySubstitutable: unary("QuerySubstitutable", (req: { storePaths: string[] }, signal) =>
      d.store.querySubstitutable(req.storePaths, signal),
    ),

    substitute: (call: ServerWritableStream<SubstituteRequest, SubstituteProgress>) => {
      const ac = new AbortController();
      call.on("cancelled", () => ac.abort());
      Promise.resolve()
        .then(() =>
          d.store.substitute(
            decoded(call.request, "Substitute").storePaths,
            ac.signal,
            (p) => call.write(p),
            callPushClient(call),
          ),
        )
        .then(
          () => call.end(),
          (e: unknown) => failStream(call, toStatus(e, d.log, "Substitute")),
        );
    },

    pushPaths: (call: ServerReadableStream<PushPathsRequest, unknown>, callback) => {
      const ac = new AbortController();
      call.on("cancelled", () => ac.abort());
      d.store.receivePush(decodedStream(call, "PushPaths"), ac.signal, undefined, callPushClient(call)).then(
        (res) => callback(null, res),
        (e: unknown) => {
          // Stop reading what the client still sends; the status tells it why.
          call.destroy();
          callback(toStatus(e, d.log, "PushPaths"), null);
        },
      );
    },

    activate: (call: ServerWritableStream<ActivateRequest, DeploymentEvent>) => {
      streamDeployment(call, "Activate", d, () => {
        const req = decoded(call.request, "Activate");
        d.validateStorePath(req.storePath);
        const overrideHolds = overrideHoldsFromPb(req.overrideHolds);
        const action = actionFromPb(req.action);
        checkReboot(action, req.reboot === true, d.boot ?? BOOT_COUNTING_OFF);
        return d.deployer.activate(req.storePath, action, {
          ...deployRequestFromPb(req.options),
          overrideHolds,
          client: clientIdentity(call),
          startedBy: startedBy(call),
          reboot: req.reboot === true,
        });
      });
    },

    rollback: (call: ServerWritableStream<RollbackRequest, DeploymentEvent>) => {
      streamDeployment(call, "Rollback", d, () => {
        const req = decoded(call.request, "Rollback");
        return d.deployer.rollback(req.generation, {
          overrideHolds: overrideHoldsFromPb(req.overrideHolds),
          client: clientIdentity(call),
          startedBy: startedBy(call),
        });
      });
    },
  };
}

/**
 * Streams one deployment's events until it is final. The deployment does not
 * depend on the stream: a client that goes away only stops watching.
 */
function streamDeployment<Req>(
  call: ServerWritableStream<Req, DeploymentEvent>,
  method: string,
  d: ServiceDeps,
  begin: () => Promise<DeploymentRecord>,
): void {
  let id: string | undefined;
  const early: DeploymentRecord[] = [];
  let done = false;
  const write = (r: DeploymentRecord) => {
    if (done || r.id !== id) return;
    call.write(eventFromRecord(r));
    if (endsStream(r)) {
      done = true;
      unsubscribe();
      call.end();
    }
  };
  const unsubscribe = d.deployer.subscribe((r) => {
    if (id === undefined) early.push(r);
    else write(r);
  });
  call.on("cancelled", () => {
    done = true;
    unsubscribe();
  });
  const run = async () => {
    const record = await begin();
    id = record.id;
    for (const r of early) write(r);
    early.length = 0;
  };
  run().catch((e: unknown) => {
    done = true;
    unsubscribe();
    failStream(call, toStatus(e, d.log, method));
  });
}

function failStream<Req, Res>(call: ServerWritableStream<Req, Res>, st: Partial<StatusObject>): void {
  call.emit("error", { ...st, code: st.code ?? status.UNKNOWN });
}
