// The controller's one entry point to the agent's RPCs; the parts live in agent-api/:
// types.ts (AgentApi, ConnectOptions), connect.ts (TLS channel, waiting for READY),
// grpc-api.ts (the RPC wrappers), calls.ts (unary and server-stream calls),
// call-error.ts (AgentCallError), errors.ts (ServiceError → AgentCallError), credentials.ts (TLS files).
// The push transports (gRPC PushPaths, the raw channel first) live in ../push/transport/, and so
// does connectAgent, the connection with its real push transport (push-via.ts is the seam).
// Code that runs before the connect imports the parts it needs, not this file (it loads grpc-js).

export { AgentCallError } from "./agent-api/call-error.js";
export { connectAgentWith } from "./agent-api/connect.js";
export { createCredentials } from "./agent-api/credentials.js";
export { toAgentCallError } from "./agent-api/errors.js";
export type { PushContext, PushVia } from "./agent-api/push-via.js";
export type { AgentApi, ConnectAgent, ConnectOptions, PushTransport } from "./agent-api/types.js";
