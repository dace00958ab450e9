import { readFileSync } from "node:fs";
import { type ChannelOptions, credentials } from "@grpc/grpc-js";
import type { AgentClient } from "@ros-rollback/proto";
import { agentClient } from "@ros-rollback/proto/clients";
import type { TestPki } from "@ros-rollback/proto/testing";
import { type RunningServer, type ServerOptions, startServer } from "../server/server.js";
import type { ServiceDeps } from "../server/service.js";

/** A store that has every path and is never asked for more (tests of deployment RPCs). */
export const COMPLETE_STORE: ServiceDeps["store"] = {
  queryMissing: async () => [],
  prepareQuery: () => undefined,
  querySubstitutable: async () => ({ paths: [], unreachable: [] }),
  substitute: async () => {
    throw new Error("not used");
  },
  receivePush: async () => ({ imported: [], skipped: [], narBytes: 0 }),
};

export const HEALTHY_SNAPSHOT: ServiceDeps["checkHealth"] = async () => ({
  healthy: true,
  reason: "",
  phase: "snapshot",
  at: 1,
  stableForSeconds: 0,
  checks: [],
});

/** The agent's gRPC server over mTLS on 127.0.0.1:0 with the test PKI; unset deps get the defaults above. */
export function startTestServer(
  pki: TestPki,
  deps: Omit<ServiceDeps, "version" | "store" | "validateStorePath" | "checkHealth"> &
    Partial<Pick<ServiceDeps, "store" | "validateStorePath" | "checkHealth">>,
  options: Pick<ServerOptions, "access" | "audit" | "interceptors"> = {},
): Promise<RunningServer> {
  return startServer(
    {
      listen: "127.0.0.1:0",
      tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey },
      insecure: false,
      ...options,
    },
    {
      version: "test",
      store: COMPLETE_STORE,
      validateStorePath: () => undefined,
      checkHealth: HEALTHY_SNAPSHOT,
      ...deps,
    },
  );
}

/**
 * A client with the test PKI's client certificate (or `as`, e.g. client2's); `options` e.g. its
 * own subchannel pool for races.
 */
export function testClient(
  pki: TestPki,
  port: number,
  options: ChannelOptions = {},
  as: { readonly cert: string; readonly key: string } = { cert: pki.clientCert, key: pki.clientKey },
): AgentClient {
  const creds = credentials.createSsl(readFileSync(pki.caFile), readFileSync(as.key), readFileSync(as.cert));
  return new (agentClient())(`127.0.0.1:${port}`, creds, {
    "grpc.ssl_target_name_override": "localhost",
    ...options,
  });
}
