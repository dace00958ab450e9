import {
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AccessGate } from "../access/gate.js";
import { callIdentity } from "../access/identity.js";
import { toStatus } from "./status.js";

type Method = { readonly path: string };

/**
 * Access control for every call of every service on the server: refused
 * before the handler sees metadata or a message, so a refused call changes
 * nothing. Goes outermost of the interceptors: the metrics see the refusal.
 */
export function accessInterceptor(gate: AccessGate, log: Logger): ServerInterceptor {
  return (method: Method, call: ServerInterceptingCallInterface) => {
    const id = callIdentity(call);
    let refused = false;
    const refuse = (error: unknown) => {
      refused = true;
      call.sendStatus(
        toStatus(error, log, method.path.slice(0, 100)) as Parameters<typeof call.sendStatus>[0],
      );
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const denial = gate.admit(method.path, id);
            if (denial === undefined) nextMetadata(metadata);
            else refuse(denial.error);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (refused) return;
            const denial = gate.admitMessage(method.path, id, message);
            if (denial === undefined) nextMessage(message);
            else refuse(denial.error);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!refused) nextHalfClose();
          },
        }),
    });
  };
}
