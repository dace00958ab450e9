import type { TLSSocket } from "node:tls";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { callIdentity, describeIdentity, socketIdentity } from "../access/identity.js";
import type { PushClient } from "../store/store-port.js";
import { cut } from "../text/bounded.js";

/** Subjects and addresses come from the peer: kept short in logs. */
const MAX_IDENTITY = 200;

/**
 * Who made the call, for audit lines: the client certificate's subject CN
 * (mutual TLS: the controller's key) and the peer address. Undefined when
 * neither is known.
 */
export function clientIdentity(
  call: Pick<ServerWritableStream<unknown, unknown>, "getAuthContext" | "getPeer">,
): string | undefined {
  let cn: string | undefined;
  let peer: string | undefined;
  try {
    const subject = call.getAuthContext().sslPeerCertificate?.subject as Record<string, unknown> | undefined;
    const value = subject?.CN;
    cn = typeof value === "string" ? value : Array.isArray(value) ? value.map(String).join(",") : undefined;
  } catch {
    cn = undefined;
  }
  try {
    peer = call.getPeer();
  } catch {
    peer = undefined;
  }
  const parts = [cn === undefined ? undefined : `CN=${cn}`, peer].filter((p) => p !== undefined && p !== "");
  return parts.length === 0 ? undefined : cut(parts.join(" from "), MAX_IDENTITY).replace(/[\p{Cc}]/gu, "?");
}

/** Who started a deployment, as its record keeps it; undefined without a client certificate. */
export function startedBy(call: Parameters<typeof callIdentity>[0]): string | undefined {
  const id = callIdentity(call);
  return id === undefined ? undefined : describeIdentity(id);
}

/** The client a gRPC call's push counts against (push slots): its certificate's fingerprint; undefined without TLS. */
export function callPushClient(call: Parameters<typeof callIdentity>[0]): PushClient {
  return callIdentity(call)?.fingerprint;
}

/** The same for a raw push connection (the same handshake asked it for its certificate). */
export function socketPushClient(socket: Pick<TLSSocket, "getPeerCertificate">): PushClient {
  return socketIdentity(socket)?.fingerprint;
}
