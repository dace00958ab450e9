#!/usr/bin/env node
// Composition root: the only place that builds real implementations and wires them together.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "./config/load.js";
import { Deployer } from "./deployment/deployer.js";
import { summarize } from "./deployment/health-steps.js";
import { systemClock } from "./deployment/ports.js";
import { FileRecordStore } from "./deployment/record-file.js";
import { isAgentError } from "./errors.js";
import { NixProfile } from "./generations/profile.js";
import { listFailedUnits } from "./health/checks/units.js";
import { createHealthChecker } from "./health/index.js";
import { createLogger } from "./log.js";
import { startServer } from "./server/server.js";
import { createStorePort } from "./server/store-adapter.js";
import { ProcessRunner } from "./system/command.js";
import { RobotSystemInspector } from "./system/inspector.js";
import { SystemdSwitchRunner } from "./system/switcher.js";

function agentVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string" }, version: { type: "boolean" } } });
  if (values.version) {
    process.stdout.write(`${agentVersion()}\n`);
    return;
  }
  if (values.config === undefined) {
    process.stderr.write("usage: ros-rollback-agent --config FILE\n");
    process.exitCode = 1;
    return;
  }
  const config = await loadConfig(values.config);
  const log = createLogger(config.logLevel);
  const runner = new ProcessRunner();
  const nix = (tool: string) => (config.nixBinDir ? `${config.nixBinDir}/${tool}` : tool);

  const store = createStorePort({
    storeDir: config.storeDir,
    trustedPublicKeys: config.trustedPublicKeys,
    nixBinDir: config.nixBinDir,
    log,
  });
  const profile = new NixProfile(config.profile, runner, nix("nix-env"));
  const system = new RobotSystemInspector({
    runner,
    currentSystemLink: config.currentSystemLink,
    switchLockFile: config.switchLockFile,
    validateStorePath: store.validateStorePath,
    isValidInStore: async (p) => (await store.queryMissing([p], AbortSignal.timeout(30_000))).length === 0,
  });
  const checker = createHealthChecker(config.health, {
    runner,
    log: { warn: (obj, msg) => log.warn(obj, msg) },
  });
  const health = {
    evaluate: (
      spec: typeof config.health,
      onReport: Parameters<typeof checker.evaluate>[0]["onReport"],
      signal: AbortSignal,
    ) => checker.evaluate({ onReport }, signal, spec),
    snapshot: (spec: typeof config.health, signal: AbortSignal) => checker.snapshot(signal, spec),
    failedUnits: (signal: AbortSignal) => listFailedUnits(runner, { timeoutMs: 10_000, signal }),
  };
  const deployer = new Deployer({
    profile,
    health,
    switcher: new SystemdSwitchRunner(runner, process.env.PATH ?? "/run/current-system/sw/bin:/usr/bin:/bin"),
    records: new FileRecordStore(config.stateDir),
    system,
    clock: systemClock,
    log,
    options: {
      activationTimeoutMs: config.activationTimeoutSeconds * 1000,
      deleteFailedGenerations: config.deleteFailedGenerations,
      defaults: {
        autoRollback: config.autoRollback,
        magicRollback: config.magicRollback,
        confirmTimeoutSeconds: config.confirmTimeoutSeconds,
        health: config.health,
      },
    },
  });
  await deployer.start();
  const server = await startServer(
    { listen: config.listen, tls: config.tls, insecure: config.insecure },
    {
      version: agentVersion(),
      deployer,
      profile,
      system,
      store,
      validateStorePath: store.validateStorePath,
      checkHealth: async (signal) => summarize(await checker.snapshot(signal), systemClock),
      log,
    },
  );
  log.info({ listen: config.listen, port: server.port, tls: !config.insecure }, "agent listening");

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    Promise.all([server.close(5_000), deployer.close()])
      .then(() => checker.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          log.error({ err: e }, "error while shutting down");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((e: unknown) => {
  if (isAgentError(e)) {
    process.stderr.write(`ros-rollback-agent: ${e.message}\n`);
    process.exit(1);
  }
  process.stderr.write(
    `ros-rollback-agent: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(70);
});
