#!/usr/bin/env node
import { parseArgs } from "node:util";
// Composition root: reads the config, starts the relay, stops it on SIGTERM.
import { loadRelayConfig, RelayConfigError, readRelayTls } from "./config.js";
import { jsonLineLog } from "./log.js";
import { startMetricsServer } from "./metrics-http.js";
import { startRelay } from "./server.js";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string" } } });
  if (values.config === undefined) {
    process.stderr.write("usage: ros-rollback-relay --config FILE\n");
    process.exitCode = 64;
    return;
  }
  const config = await loadRelayConfig(values.config);
  const tls = await readRelayTls(config);
  const log = jsonLineLog((line) => process.stdout.write(line));
  let relay: Awaited<ReturnType<typeof startRelay>>;
  try {
    relay = await startRelay({
      robotListen: config.robotListen,
      controllerListen: config.controllerListen,
      tls,
      log,
    });
  } catch (cause) {
    // Bad PEM material or a port taken: nothing a restart fixes.
    throw new RelayConfigError(`cannot start: ${(cause as Error).message}`, { cause });
  }
  const metrics = config.metricsListen && (await startMetricsServer(config.metricsListen, relay));
  if (metrics) log.info({ port: metrics.port }, "serving metrics");
  const stop = () => {
    Promise.all([relay.close(), metrics?.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e: unknown) => {
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").slice(0, 1000);
  process.stderr.write(`ros-rollback-relay: ${message}\n`);
  process.exit(e instanceof RelayConfigError ? e.exitCode : 70);
});
