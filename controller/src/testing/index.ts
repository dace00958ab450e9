// What the end-to-end tests (e2e/) use of this package: its "./testing" entry, so no test reaches in by a relative path.
export * from "../agent-api.js";
export * from "../closure/index.js";
export * from "../push/link-verdict.js";
export * from "../push/nar-source.js";
export type { PushProgress } from "../push/progress-counter.js";
export * from "../push/push-requests.js";
export * from "../push/transport/connect-agent.js";
export * from "../push/transport/raw-push-client.js";
