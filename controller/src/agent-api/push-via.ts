// The seam between a connection and its push transport: GrpcAgentApi.pushPaths hands the push to a
// PushVia given to connectAgentWith, so agent-api/ never imports push/ (push/transport/ imports
// agent-api's call helpers, and push/transport/connect-agent.ts puts the two together).
import type { Duplex } from "node:stream";
import type { AgentClient, PushPathsRequest, PushPathsResponse, RawPushProgress } from "@ros-rollback/proto";
import type { CallContext } from "./calls.js";
import type { PushTransport } from "./types.js";

/** Where the raw push channel dials: the connection's address and TLS files. */
export interface RawPushEndpoint {
  /** "host:port" or "[v6]:port", as the inventory has it. */
  readonly address: string;
  readonly serverName: string | undefined;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /**
   * A byte stream to the agent (its relay's), for the TLS to run over instead of TCP to
   * `address`: the push's bytes skip the loopback proxy that gRPC's connection goes through.
   */
  readonly dial?: () => Promise<Duplex>;
}

/** One connection, as its push transport needs it. */
export interface PushContext {
  readonly ctx: CallContext;
  readonly client: AgentClient;
  readonly raw: RawPushEndpoint;
  readonly connectTimeoutMs: number;
}

/** A connection's push transport (AgentApi.pushPaths, with the connection first). */
export type PushVia = (
  p: PushContext,
  requests: AsyncIterable<PushPathsRequest>,
  signal: AbortSignal,
  onWritten?: (request: PushPathsRequest) => void,
  onTransport?: (transport: PushTransport) => void,
  onAgentProgress?: (progress: RawPushProgress) => void,
) => Promise<PushPathsResponse>;
