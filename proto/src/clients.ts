// The grpc-js client constructors, built on first use: only code that connects loads grpc-js
// (and node:http2), not code that merely uses the messages (controller start-up, issue 13).
// Its own entry point (@ros-rollback/proto/clients) so that the package's index never imports grpc-js.
import { type ChannelCredentials, type ClientOptions, makeGenericClientConstructor } from "@grpc/grpc-js";
import { type AgentClient, AgentService } from "./gen/ros_rollback/v1/agent.js";
import { FastAgentService } from "./push-codec.js";

export interface AgentClientConstructor {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): AgentClient;
  readonly service: typeof AgentService;
  readonly serviceName: string;
}

const SERVICE_NAME = "ros_rollback.v1.Agent";

let plain: AgentClientConstructor | undefined;
let fast: AgentClientConstructor | undefined;

/** The client class with the generated codec for every RPC. */
export function agentClient(): AgentClientConstructor {
  plain ??= makeGenericClientConstructor(AgentService, SERVICE_NAME) as unknown as AgentClientConstructor;
  return plain;
}

/** The client class whose PushPaths chunks are encoded without extra copies (push-codec.ts). */
export function fastAgentClient(): AgentClientConstructor {
  fast ??= makeGenericClientConstructor(FastAgentService, SERVICE_NAME) as unknown as AgentClientConstructor;
  return fast;
}
