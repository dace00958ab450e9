import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import type {
  AgentServer,
  HoldRequest,
  HoldResponse,
  ListHoldsResponse,
  PlanRequest,
  PlanResponse,
  ReleaseRequest,
  ReleaseResponse,
} from "@ros-rollback/proto";
import { AgentError } from "../errors.js";
import type { Holds } from "../holds/holds.js";
import type { Plan } from "../plan/planner.js";
import { holdToPb, unitChangesToPb } from "./convert-changes.js";

type Unary = <Req, Res>(
  method: string,
  fn: (req: Req, signal: AbortSignal) => Promise<Res>,
) => (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

export interface PlanHoldsDeps {
  readonly holds: Pick<Holds, "current" | "store">;
  readonly planner: { plan(storePath: string, signal: AbortSignal): Promise<Plan> };
  readonly validateStorePath: (path: string) => void;
  /** Id of the deployment under way, if any: a plan then compares against a moving target. */
  readonly activeDeployment: () => string | undefined;
}

/** Plan, Hold, Release and ListHolds: decode, delegate, encode. */
export function planHoldsHandlers(
  d: PlanHoldsDeps,
  unary: Unary,
): Pick<AgentServer, "plan" | "hold" | "release" | "listHolds"> {
  const all = async (signal: AbortSignal) => (await d.holds.current(signal)).map(holdToPb);
  return {
    plan: unary("Plan", async (req: PlanRequest, signal): Promise<PlanResponse> => {
      d.validateStorePath(req.storePath);
      const active = d.activeDeployment();
      if (active !== undefined) {
        throw new AgentError(
          "FAILED_PRECONDITION",
          `deployment ${active} is under way; plan once it is finished`,
        );
      }
      const p = await d.planner.plan(req.storePath, signal);
      return {
        currentSystem: p.currentSystem,
        storePath: p.storePath,
        units: unitChangesToPb(p.units),
        interrupted: p.interrupted.map((i) => ({
          unit: i.unit,
          paths: [...i.paths],
          lastStoppedMs: i.lastStoppedMs,
          after: i.after,
        })),
        unchanged: [...p.unchanged],
        closure: {
          added: p.closure.added.map(changeToPb),
          removed: p.closure.removed.map(changeToPb),
          changed: p.closure.changed.map(changeToPb),
          oldSizeBytes: p.closure.oldSize,
          newSizeBytes: p.closure.newSize,
          oldPaths: p.closure.oldPaths,
          newPaths: p.closure.newPaths,
        },
        exitCode: p.exitCode,
        output: p.output,
      };
    }),

    hold: unary("Hold", async (req: HoldRequest, signal): Promise<HoldResponse> => {
      const hold = await d.holds.store.set(req.name, req.reason, req.durationSeconds);
      return { hold: holdToPb(hold), holds: await all(signal) };
    }),

    release: unary("Release", async (req: ReleaseRequest, signal): Promise<ReleaseResponse> => {
      if (req.name === "")
        throw new AgentError("INVALID_ARGUMENT", "name must not be empty (leave it unset for all)");
      const released = await d.holds.store.release(req.name);
      return { released, holds: await all(signal) };
    }),

    listHolds: unary(
      "ListHolds",
      async (_req, signal): Promise<ListHoldsResponse> => ({ holds: await all(signal) }),
    ),
  };
}

function changeToPb(c: Plan["closure"]["added"][number]) {
  return {
    name: c.name,
    oldVersions: [...c.oldVersions],
    newVersions: [...c.newVersions],
    sizeDeltaBytes: c.sizeDelta,
  };
}
