import { printable } from "@ros-rollback/nix-core";
import { cut } from "../text/bounded.js";

/** A client certificate as TLS reports the peer's (node's PeerCertificate, the fields used here). */
export interface PeerCertificate {
  readonly subject?: Readonly<Record<string, unknown>>;
  readonly subjectaltname?: string;
  readonly fingerprint256?: string;
}

/**
 * Who a caller is: its end-to-end client certificate. The fingerprint is the
 * key (push slots count per fingerprint, issue 24); subject fields and SAN
 * URIs are what access rules match. Multi-valued fields keep every value.
 */
export interface PeerIdentity {
  /** SHA-256 of the certificate (`AB:CD:…`), as node reports `fingerprint256`. */
  readonly fingerprint: string;
  readonly cn: readonly string[];
  readonly o: readonly string[];
  readonly ou: readonly string[];
  readonly uris: readonly string[];
}

/** Characters of an identity in a message or log line: subjects and SANs come from the peer. */
export const MAX_IDENTITY_TEXT = 300;
/** Values kept per field, and characters per value: a hostile certificate may carry thousands. */
const MAX_VALUES = 16;
const MAX_VALUE = 1_024;

function values(v: unknown): string[] {
  const all = typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  return all.slice(0, MAX_VALUES).map((s) => s.slice(0, MAX_VALUE + 1));
}

/**
 * The URI entries of node's `subjectaltname` ("DNS:a, URI:spiffe://x"); node
 * writes a value holding a comma or quote as a JSON string, so a hostile SAN
 * cannot forge a second entry.
 */
export function sanUris(san: string | undefined): string[] {
  const out: string[] = [];
  let i = 0;
  const s = san ?? "";
  while (i < s.length && out.length < MAX_VALUES) {
    const colon = s.indexOf(":", i);
    if (colon < 0) break;
    const kind = s.slice(i, colon);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      const end = closingQuote(s, colon + 2);
      if (end < 0) break;
      try {
        value = JSON.parse(s.slice(colon + 1, end + 1)) as string;
      } catch {
        break;
      }
      next = s.indexOf(", ", end);
    } else {
      next = s.indexOf(", ", colon);
      value = s.slice(colon + 1, next < 0 ? s.length : next);
    }
    if (kind === "URI") out.push(value.slice(0, MAX_VALUE + 1));
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

function closingQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

/** The identity of a certificate; undefined without one (no TLS, or no fingerprint). */
export function peerIdentity(cert: PeerCertificate | undefined): PeerIdentity | undefined {
  const fingerprint = cert?.fingerprint256;
  if (cert === undefined || typeof fingerprint !== "string" || fingerprint === "") return undefined;
  const subject = cert.subject ?? {};
  return {
    fingerprint,
    cn: values(subject.CN),
    o: values(subject.O),
    ou: values(subject.OU),
    uris: sanUris(cert.subjectaltname),
  };
}

/** A gRPC call's identity (its TLS peer certificate). */
export function callIdentity(call: {
  getAuthContext(): { readonly sslPeerCertificate?: unknown };
}): PeerIdentity | undefined {
  try {
    return peerIdentity(call.getAuthContext().sslPeerCertificate as PeerCertificate | undefined);
  } catch {
    return undefined;
  }
}

/** A raw push connection's identity (the same handshake asked it for its certificate). */
export function socketIdentity(socket: { getPeerCertificate(): unknown }): PeerIdentity | undefined {
  try {
    return peerIdentity(socket.getPeerCertificate() as PeerCertificate | undefined);
  } catch {
    return undefined;
  }
}

/**
 * One line naming an identity for messages and logs: subject fields and URIs,
 * unprintable characters escaped (a CN with a newline cannot forge a log
 * line), bounded, then the fingerprint's head (never cut away).
 */
export function describeIdentity(id: PeerIdentity | undefined): string {
  if (id === undefined) return "(no client certificate)";
  const parts = [
    ...id.cn.map((v) => `CN=${v}`),
    ...id.o.map((v) => `O=${v}`),
    ...id.ou.map((v) => `OU=${v}`),
    ...id.uris.map((v) => `URI=${v}`),
  ];
  const subject = cut(printable(parts.join(", ") || "(empty subject)"), MAX_IDENTITY_TEXT);
  return `${subject} [sha256 ${id.fingerprint.slice(0, 23)}…]`;
}
