#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { AgentService } from "@ros-rollback/proto";
// Composition root: the only place that builds real implementations and wires them together.
import { startAccess } from "./access/start.js";
import { fileAuditor } from "./audit/auditor.js";
import { AuditFile } from "./audit/file.js";
import { auditQuery } from "./audit/query.js";
import { bootPorts } from "./boot/wire.js";
import { FsDataStore } from "./data/store.js";
import { SystemdUnits } from "./data/units.js";
import { Deployer } from "./deployment/deployer.js";
import { summarize } from "./deployment/health-steps.js";
import { systemClock } from "./deployment/ports.js";
import { startDialOut } from "./dial-out/start.js";
import { asAgentError, isStartupError } from "./errors.js";
import { bootGuard, createCollector, rootedStore, spaceGuard } from "./gc/wire.js";
import { NixProfile } from "./generations/profile.js";
import { wireHealth } from "./health/wire.js";
import { Holds } from "./holds/holds.js";
import { HoldStore } from "./holds/store.js";
import { createLogger } from "./log.js";
import { healthTransitionLogger } from "./logging/health-log.js";
import { detectLogTarget, realDetectDeps } from "./logging/journald.js";
import { detachNotifyEnv, systemdNotifier } from "./logging/systemd-notify.js";
import {
  accessReports,
  createAgentMetrics,
  grpcMetricsInterceptor,
  healthObserver,
  initGrpcMetrics,
  pushCounter,
  pushObserver,
} from "./metrics/index.js";
import { serveMetricsLogged } from "./metrics/serve-logged.js";
import { watchAgent } from "./metrics/wire.js";
import { Planner } from "./plan/planner.js";
import { startServer } from "./server/server.js";
import { watchTls } from "./server/tls-watch.js";
import { checkStartup } from "./startup.js";
import { createStorePort } from "./store/store-adapter.js";
import { ProcessRunner } from "./system/command.js";
import { RobotSystemInspector } from "./system/inspector.js";
import { SelfRestart } from "./system/self-restart.js";
import { SystemdSwitchRunner } from "./system/switcher.js";
import { systemdRetry } from "./system/systemd-retry.js";

function agentVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function main(): Promise<void> {
  const notifyEnv = detachNotifyEnv(process.env);
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
  const { config, records } = await checkStartup(values.config);
  const logTarget =
    config.logTarget === "auto"
      ? detectLogTarget(realDetectDeps)
      : { kind: "stdout" as const, why: "logTarget is stdout" };
  const log = createLogger(config.logLevel, logTarget);
  log.info(
    { logTarget: logTarget.kind, why: logTarget.kind === "stdout" ? logTarget.why : undefined },
    `logging to ${logTarget.kind === "journald" ? "journald (native protocol, structured fields)" : "stdout (JSON lines)"}`,
  );
  const runner = new ProcessRunner();
  const askAgain = systemdRetry((message) => log.warn(message));
  const metrics = createAgentMetrics({ version: agentVersion() });
  const nix = (tool: string) => (config.nixBinDir ? `${config.nixBinDir}/${tool}` : tool);

  const { store, roots, fence } = rootedStore(
    config,
    createStorePort({
      storeDir: config.storeDir,
      trustedPublicKeys: config.trustedPublicKeys,
      substituters: config.substituters,
      nixBinDir: config.nixBinDir,
      log,
      observer: pushObserver(metrics),
      // A deploy's query and its Activate's validity check share one nix-store; exit ends its input.
      keepQueryProcessMs: 5_000,
      ensureSpace: spaceGuard(config, () => collector), // made below; asked only once serving
    }),
    runner,
    log,
  );
  const profile = new NixProfile(config.profile, runner, nix("nix-env"));
  const system = new RobotSystemInspector({
    runner,
    currentSystemLink: config.currentSystemLink,
    switchLockFile: config.switchLockFile,
    validateStorePath: store.validateStorePath,
    isValidInStore: async (p) => (await store.queryMissing([p], AbortSignal.timeout(30_000))).length === 0,
  });
  const { monitor, checker, health } = wireHealth(config.health, runner, log);
  const data = new FsDataStore(runner, new SystemdUnits(runner), {
    stateDir: config.stateDir,
    holdDir: config.holds.dir,
    entries: config.data,
    keep: config.dataSnapshotsKept,
    migrateTimeoutMs: config.migrateTimeoutSeconds * 1000,
    reserveBytes: config.dataReserveMiB * 1048576,
  });
  const holds = new Holds({
    store: new HoldStore(config.stateDir, () => Date.now()),
    dir: config.holds.dir,
    conditions: config.holds.conditions,
    conditionDeps: {
      unitState: async (unit, signal) =>
        (
          await runner.run(["systemctl", "is-active", "--", unit], { signal, timeoutMs: 5_000 })
        ).stdout.trim(),
      ros: monitor || undefined,
    },
    onRefused: () => metrics.deploysRefusedHeld.inc(),
    onOverridden: (overridden) => {
      for (const h of overridden) metrics.holdsOverridden.inc({ source: h.source });
    },
  });
  const pathForSwitch = process.env.PATH ?? "/run/current-system/sw/bin:/usr/bin:/bin";
  const switcher = new SystemdSwitchRunner(runner, pathForSwitch, askAgain);
  const deployer = new Deployer({
    holds,
    profile,
    data,
    health,
    switcher,
    records,
    system,
    clock: systemClock,
    log,
    bootSpace: bootGuard(config, log),
    boot: bootPorts(config.boot, runner),
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
  const selfRestart = new SelfRestart(config.agentUnit, runner, log, askAgain);
  await selfRestart.init();
  deployer.subscribe((r) => {
    selfRestart.onDeployment(r).catch((e: unknown) => log.error({ err: e }, "could not restart the agent"));
  });
  const collector = createCollector({
    config,
    deployer,
    profile,
    runner,
    nixStore: nix("nix-store"),
    registry: metrics.registry,
    roots,
    fence,
    log,
  });
  await deployer.start();

  const onHealth = healthObserver(metrics);
  const logHealth = healthTransitionLogger(log);
  const stopHolds = holds.keepTopicsWarm(2_000, (e) =>
    log.debug({ err: e }, "cannot sync the topics of hold conditions"),
  );
  watchAgent(metrics, { deployer, holds, profile, runner, health: config.health, monitor, onHealth, log });
  deployer.subscribe((r) => {
    if (r.health) logHealth(r.health, { deploymentId: r.id, generation: r.generation });
  });
  initGrpcMetrics(metrics, AgentService);
  const server = await startServer(
    {
      listen: config.listen,
      tls: config.tls,
      insecure: config.insecure,
      cipherSuites: process.env.GRPC_SSL_CIPHER_SUITES,
      onPush: pushCounter(metrics),
      interceptors: [grpcMetricsInterceptor(metrics)],
      access: startAccess(config.access, log, accessReports(metrics.registry)),
      audit: fileAuditor(new AuditFile({ dir: config.stateDir }), log),
    },
    {
      version: agentVersion(),
      deployer,
      profile,
      system,
      store,
      validateStorePath: store.validateStorePath,
      checkHealth: async (signal) => {
        const h = summarize(await checker.snapshot(signal), systemClock);
        onHealth(h);
        logHealth(h, {});
        return h;
      },
      log,
      holds,
      gc: collector,
      auditLog: auditQuery(config.stateDir),
      boot: config.boot,
      planner: new Planner({
        runner,
        system,
        nixStore: nix("nix-store"),
        pathForSwitch,
        timeoutMs: config.activationTimeoutSeconds * 1000,
        data,
        units: switcher,
      }),
    },
  );
  log.info({ listen: config.listen, port: server.port, tls: !config.insecure }, "agent listening");
  const dialOut = await startDialOut(config.dialOut, server.inject, config.metrics && metrics.registry, log);
  const tlsFiles = [
    ...Object.values(config.tls ?? {}),
    ...config.dialOut.flatMap((d) => [d.caFile, d.certFile, d.keyFile]),
  ].filter((f): f is string => typeof f === "string");
  watchTls(
    [...new Set(tlsFiles)],
    () => Promise.all([server.reloadTls(), dialOut.reloadTls()]).then(() => undefined),
    log,
    (h) => {
      process.on("SIGHUP", h);
      return () => process.off("SIGHUP", h);
    },
  );
  const metricsServer = config.metrics && (await serveMetricsLogged(config.metrics, metrics.registry, log));
  const notifier = systemdNotifier({ env: notifyEnv, pid: process.pid, runner, log });
  await notifier?.ready(
    `listening on ${config.listen ?? "(no port)"}${config.dialOut.length > 0 ? `, dialing ${config.dialOut.map((d) => d.relay).join(", ")}` : ""}${metricsServer ? `, metrics at ${metricsServer.url}` : ""}`,
  );
  // stat runs on a libuv pool thread: the watchdog pings only while the pool answers.
  const stopWatchdog = notifier?.startWatchdog(() => stat(config.stateDir));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    stopWatchdog?.();
    stopHolds();
    dialOut.stop();
    Promise.all([notifier?.stopping(), server.close(5_000), deployer.close(), metricsServer?.close()])
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

/** Start-up messages are one line and bounded, whatever a path or a parser put in them. */
function oneLine(text: string): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, " ");
  return flat.length > 1000 ? `${flat.slice(0, 1000)}…` : flat;
}

main().catch((e: unknown) => {
  // Config, TLS files, state dir, deployment record: the operator's to fix, no stack trace (README "Exit codes").
  if (isStartupError(e)) {
    process.stderr.write(`ros-rollback-agent: ${oneLine(e.message)}\n`);
    process.exit(e.exitCode);
  }
  const known = asAgentError(e);
  if (known !== undefined) {
    process.stderr.write(`ros-rollback-agent: ${oneLine(known.message)}\n`);
    process.exit(1);
  }
  process.stderr.write(
    `ros-rollback-agent: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(70);
});
