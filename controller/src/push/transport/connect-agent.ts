// The agent connection with its real push transport (the raw channel first, else PushPaths): what
// cli.ts and the tests connect with. Here, not in agent-api/, so agent-api/ never imports push/.
import { connectAgentWith } from "../../agent-api/connect.js";
import type { ConnectAgent } from "../../agent-api/types.js";
import { pushRawFirst } from "./raw-first.js";

export const connectAgent: ConnectAgent = (target, options, signal) =>
  connectAgentWith(pushRawFirst)(target, options, signal);
