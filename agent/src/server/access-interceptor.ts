import {
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AccessGate, Denial } from "../access/gate.js";
import { callIdentity } from "../access/identity.js";
import { methodName, roleFor } from "../access/rpc-roles.js";
import { type Auditor, NO_AUDIT } from "../audit/auditor.js";
import { summarizeArgs } from "../audit/summary.js";
import { grpcCodeName } from "../metrics/grpc.js";
import { toStatus } from "./status.js";

type Method = { readonly path: string };

/**
 * Access control and the audit log for every call of every service on the
 * server. A refused call is answered before the handler sees its metadata or
 * message, so it changes nothing. An admitted mutation (any method that is not
 * `read`) reaches its handler only once its admission is on disk; its outcome
 * follows. Goes outermost of the interceptors: the metrics see the refusals.
 */
export function accessInterceptor(
  gate: AccessGate,
  log: Logger,
  audit: Auditor = NO_AUDIT,
): ServerInterceptor {
  return (method: Method, call: ServerInterceptingCallInterface) => {
    const id = callIdentity(call);
    const rpc = methodName(method.path);
    const mutation = roleFor(method.path) !== "read";
    const peer = safePeer(call);
    let refused = false;
    let args: Record<string, unknown> | undefined;
    let ended = false;
    const refuse = (denial: Denial) => {
      refused = true;
      ended = true;
      // Answered once the refusal is on disk: a client that saw it can find it in the log.
      void audit
        .record({
          rpc,
          identity: id,
          peer,
          args,
          admission: "denied",
          role: denial.role,
          outcome: "PermissionDenied",
          detail: denial.error.message,
        })
        .then(() =>
          call.sendStatus(toStatus(denial.error, log, rpc) as Parameters<typeof call.sendStatus>[0]),
        );
    };
    const finish = (outcome: string, detail?: string) => {
      if (ended || !mutation) return;
      ended = true;
      void audit.record({ rpc, identity: id, peer, args, admission: "allowed", outcome, detail });
    };
    let admitted = false;
    // The admitted message reaches the handler once its entry is on disk; the half-close after it.
    let delivered: Promise<void> = Promise.resolve();
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const denial = gate.admit(method.path, id);
            if (denial === undefined) nextMetadata(metadata);
            else refuse(denial);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (refused) return;
            if (args === undefined) args = summarizeArgs(rpc, message);
            const denial = gate.admitMessage(method.path, id, message);
            if (denial !== undefined) return refuse(denial);
            if (!mutation || admitted) return nextMessage(message);
            admitted = true;
            delivered = audit.record({ rpc, identity: id, peer, args, admission: "allowed" }).then(() => {
              nextMessage(message);
            });
          },
          onReceiveHalfClose: (nextHalfClose) => {
            void delivered.then(() => {
              if (!refused) nextHalfClose();
            });
          },
          onCancel: () => finish("Canceled"),
        }),
      sendStatus: (st: Pick<StatusObject, "code" | "details">, next) => {
        finish(grpcCodeName(st.code), st.code === 0 ? undefined : st.details);
        next(st);
      },
    });
  };
}

function safePeer(call: { getPeer(): string }): string | undefined {
  try {
    return call.getPeer();
  } catch {
    return undefined;
  }
}
