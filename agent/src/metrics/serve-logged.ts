import type { Registry } from "prom-client";
import { type MetricsServer, type MetricsServerOptions, startMetricsServer } from "./http.js";

interface Log {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** Metrics are an aid: a port taken by something else is logged, and the agent still deploys. */
export async function serveMetricsLogged(
  options: MetricsServerOptions,
  registry: Registry,
  log: Log,
): Promise<MetricsServer | undefined> {
  try {
    const s = await startMetricsServer(options, registry, (e) =>
      log.warn({ err: e }, "serving metrics failed"),
    );
    log.info({ url: s.url }, "serving Prometheus metrics");
    return s;
  } catch (e) {
    log.error({ err: e }, "metrics are not served");
    return undefined;
  }
}
