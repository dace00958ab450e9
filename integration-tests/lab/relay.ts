// The lab relay (`relay up|down`): ros-rollback-relay as a detached host process (the host has no
// systemd to run it as a unit), its config, pid and log under STATE_DIR/relay. Robots reach it at
// their veth's host end (10.231.K.1:RELAY_ROBOT_PORT), controllers on the host at 127.0.0.1.
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./config.js";
import { isAlive } from "./container.js";
import { LabError, poll, run, sleep } from "./proc.js";
import { RELAY_CONTROLLER_PORT, RELAY_DIR, RELAY_METRICS_PORT, RELAY_ROBOT_PORT } from "./relay-layout.js";
import { ensureRelayPki, type RelayPki } from "./relay-pki.js";
import { relayQuery } from "./relay-query.js";

const RELAY_MAIN = join(REPO_ROOT, "relay", "dist", "main.js");
const CONFIG = join(RELAY_DIR, "relay.json");
const PID_FILE = join(RELAY_DIR, "relay.pid");
const LOCK_FILE = join(RELAY_DIR, "start.lock");
export const RELAY_LOG = join(RELAY_DIR, "relay.log");

/** What `relay up` prints: how a controller and a robot reach the relay. */
export interface LabRelay {
  /** The controllers' port (an inventory's `relay`). */
  relay: string;
  /** Robot K dials 10.231.K.1 on this port (its agent's `dialOut`). */
  robotPort: number;
  /** The relay's CA (an inventory's `relayCaFile`). */
  caFile: string;
  /** The controllers' CA the relay accepts, and its operator certificate. */
  controllerCaFile: string;
  controller: { certFile: string; keyFile: string };
  /** The relay's own Prometheus metrics. */
  metrics: string;
  pid: number;
  log: string;
}

interface Opts {
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** The relay's PID while it runs (a zombie or a reused PID is not it). */
export function relayPid(): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(PID_FILE, "utf8").trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(CONFIG) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** relay/dist is not part of the agent's build: build it when missing or older than its sources. */
async function ensureRelayBuilt(opts: Opts): Promise<void> {
  const built = existsSync(RELAY_MAIN) ? statSync(RELAY_MAIN).mtimeMs : 0;
  if (built >= newestSource(join(REPO_ROOT, "relay", "src"))) return;
  opts.log?.("lab: building relay/dist (tsc -b relay)");
  const tsc = join(REPO_ROOT, "node_modules", ".bin", "tsc");
  await run(tsc, ["-b", "relay"], { cwd: REPO_ROOT, timeoutMs: 600_000, signal: opts.signal });
}

function configText(pki: RelayPki): string {
  return `${JSON.stringify({
    robotListen: `0.0.0.0:${RELAY_ROBOT_PORT}`,
    controllerListen: `127.0.0.1:${RELAY_CONTROLLER_PORT}`,
    metricsListen: `127.0.0.1:${RELAY_METRICS_PORT}`,
    tls: {
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      robotCaFile: pki.relayCa,
      controllerCaFile: pki.controllersCa,
    },
  })}\n`;
}

const logTail = (): string => {
  try {
    return readFileSync(RELAY_LOG, "utf8").trim().split("\n").slice(-2).join(" | ").slice(-400);
  } catch {
    return "";
  }
};

/**
 * One starter at a time (two `up --nat`s at once would both start one; the loser, refused its port,
 * could leave its PID in the file). A lock whose holder died is taken over.
 */
async function withStartLock<T>(opts: Opts, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      writeFileSync(LOCK_FILE, `${process.pid}\n`, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = Number(readFileSync(LOCK_FILE, "utf8").trim());
      if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) rmSync(LOCK_FILE, { force: true });
      else if (Date.now() > deadline) throw new LabError(`lab relay: ${LOCK_FILE} held by pid ${holder}`);
      else await sleep(100, opts.signal);
    }
  }
  try {
    return await body();
  } finally {
    rmSync(LOCK_FILE, { force: true });
  }
}

/** Starts the relay unless it runs; returns how to reach it. Idempotent. */
export async function relayUp(opts: Opts = {}): Promise<LabRelay> {
  const pki = await ensureRelayPki(opts);
  const pid = relayPid() ?? (await withStartLock(opts, () => start(opts, pki)));
  return {
    relay: `127.0.0.1:${RELAY_CONTROLLER_PORT}`,
    robotPort: RELAY_ROBOT_PORT,
    caFile: pki.relayCa,
    controllerCaFile: pki.controllersCa,
    controller: pki.operator,
    metrics: `http://127.0.0.1:${RELAY_METRICS_PORT}/metrics`,
    pid,
    log: RELAY_LOG,
  };
}

async function start(opts: Opts, pki: RelayPki): Promise<number> {
  let pid = relayPid(); // started while we waited for the lock
  if (pid === undefined) {
    await ensureRelayBuilt(opts);
    writeFileSync(CONFIG, configText(pki));
    const log = openSync(RELAY_LOG, "a");
    try {
      // Its own session: it outlives the lab command (or test) that started it.
      const child = spawn(process.execPath, [RELAY_MAIN, "--config", CONFIG], {
        detached: true,
        stdio: ["ignore", log, log],
      });
      child.unref();
      if (child.pid === undefined) throw new LabError("cannot start the relay");
      pid = child.pid;
      writeFileSync(PID_FILE, `${pid}\n`);
    } finally {
      closeSync(log);
    }
    const started = pid;
    await poll(
      "lab relay: its ports",
      async () => {
        if (!isAlive(started)) throw new LabError(`the relay exited: ${logTail()}`);
        // A real query (a bare TCP probe would be logged as a refused handshake).
        return await relayQuery([], 1_000)
          .then(() => true)
          .catch(() => undefined);
      },
      { timeoutMs: 15_000, intervalMs: 100, signal: opts.signal },
    );
    opts.log?.(`lab: relay up (pid ${pid}, log ${RELAY_LOG})`);
  }
  return pid;
}

/**
 * Stops the relay (SIGTERM: it closes its connections; `hard`: SIGKILL, a crash). Keeps its keys,
 * so robots' certificates stay valid. Idempotent.
 */
export async function relayDown(opts: { hard?: boolean } = {}): Promise<void> {
  const pid = relayPid();
  if (pid !== undefined) {
    process.kill(pid, opts.hard === true ? "SIGKILL" : "SIGTERM");
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    if (isAlive(pid)) throw new LabError(`the relay (pid ${pid}) does not die`);
  }
  rmSync(PID_FILE, { force: true });
}
