import type { TLSSocket } from "node:tls";
import { RELAY_NAME } from "@ros-rollback/proto/relay";

/**
 * The robot's name: the one CN of its certificate's subject, when it is a name
 * the relay routes by. No CN, two CNs (in two RDNs or one multi-valued RDN) or
 * a CN that is not a plain name: undefined (refused), so a name is never chosen
 * among several.
 *
 * `subject` is Node's X509Certificate.subject: one attribute per line (values'
 * control characters escaped, so a value cannot start a line), a multi-valued
 * RDN's attributes joined by " + " (a "+" in a value is escaped as "\+").
 */
export function routableName(subject: string | undefined): string | undefined {
  if (subject === undefined) return undefined;
  const cns = subject
    .split("\n")
    .flatMap((line) => line.split(" + "))
    .filter((a) => a.startsWith("CN="))
    .map((a) => a.slice(3));
  const [cn] = cns;
  return cns.length === 1 && cn !== undefined && RELAY_NAME.test(cn) ? cn : undefined;
}

/**
 * The peer certificate's name. Reads the subject only: getPeerCertificate()
 * converts the whole certificate to an object (public key, three fingerprints,
 * extensions) at every stream, which the relay never uses.
 */
export function peerName(socket: TLSSocket): string | undefined {
  return routableName(socket.getPeerX509Certificate()?.subject);
}
