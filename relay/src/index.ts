export { compileRelayConfig, loadRelayConfig, RelayConfigError } from "./config.js";
export { jsonLineLog, type RelayLog } from "./log.js";
export { RelayMetrics } from "./metrics.js";
export { Registry } from "./registry.js";
export { type RelayOptions, type RunningRelay, startRelay } from "./server.js";
export { DEFAULT_TIMINGS, type RelayTimings } from "./timings.js";
