/**
 * Prometheus metrics: one registry (registry.ts) fed by consumers only — the
 * deployer's records (deployments.ts), the push observer (push.ts), health
 * rounds (deployments.ts healthObserver), a gRPC server interceptor (grpc.ts)
 * and readings at scrape time (scrape.ts) — served at /metrics (http.ts).
 */
export { accessReports } from "./access.js";
export {
  type DeploymentMetrics,
  type DeploymentSource,
  healthObserver,
  observeDeployments,
} from "./deployments.js";
export { grpcMetricsInterceptor, initGrpcMetrics } from "./grpc.js";
export { type MetricsServer, startMetricsServer } from "./http.js";
export { pushCounter, pushObserver } from "./push.js";
export { type AgentMetrics, createAgentMetrics, PREFIX } from "./registry.js";
export { metricsStreamServer } from "./relay-stream.js";
export { watchHolds, watchTopics, watchUnits } from "./scrape.js";
