import type { TLSSocket } from "node:tls";
import type { ServerWritableStream } from "@grpc/grpc-js";
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

/** A certificate as TLS reports the peer's: only its fingerprint is used. */
interface PeerCertificate {
  readonly fingerprint256?: string;
}

/** SHA-256 of the certificate: subjects need not be unique, a certificate is one key. */
function fingerprint(cert: PeerCertificate | undefined): PushClient {
  const f = cert?.fingerprint256;
  return typeof f === "string" && f !== "" ? f : undefined;
}

/** The client a gRPC call's push counts against (push slots): its certificate; undefined without TLS. */
export function callPushClient(
  call: Pick<ServerWritableStream<unknown, unknown>, "getAuthContext">,
): PushClient {
  try {
    return fingerprint(call.getAuthContext().sslPeerCertificate as PeerCertificate | undefined);
  } catch {
    return undefined;
  }
}

/** The same for a raw push connection (the same handshake asked it for its certificate). */
export function socketPushClient(socket: Pick<TLSSocket, "getPeerCertificate">): PushClient {
  return fingerprint(socket.getPeerCertificate() as PeerCertificate | undefined);
}
