import { makeTestPki as makeAgentTestPki } from "@ros-rollback/proto/testing";

/** Throwaway PEM files for tests over real mutual-TLS sockets (the agent's test PKI, named for the controller). */
export interface TestPki {
  readonly ca: string;
  /** Server certificate for DNS:localhost, IP:127.0.0.1 and DNS:robot1.test. */
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** An unrelated CA (and a client certificate it signed). */
  readonly otherCa: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

export function makeTestPki(dir: string): TestPki {
  const p = makeAgentTestPki(dir, ["robot1.test"]);
  return {
    ca: p.caFile,
    serverCert: p.serverCert,
    serverKey: p.serverKey,
    clientCert: p.clientCert,
    clientKey: p.clientKey,
    otherCa: p.rogueCa,
    otherClientCert: p.rogueCert,
    otherClientKey: p.rogueKey,
  };
}
