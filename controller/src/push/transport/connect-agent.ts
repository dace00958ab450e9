// The agent connection with its real push transport (the raw channel first, else PushPaths): what
// cli.ts and the tests connect with. Here, not in agent-api/, so agent-api/ never imports push/.
import { connectAgentWith, makeConnectAgent, TlsCache } from "../../agent-api/connect.js";
import type { ConnectAgent } from "../../agent-api/types.js";
import { pushRawFirst } from "./raw-first.js";

export const connectAgent: ConnectAgent = connectAgentWith(pushRawFirst);

/** With one TLS cache for a CLI run (the inventory's files read and parsed once per version). */
export function connectAgentCached(): ConnectAgent {
  return makeConnectAgent(pushRawFirst, new TlsCache(Date.now));
}
