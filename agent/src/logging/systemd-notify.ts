import type { CommandRunner } from "../system/command.js";

/**
 * sd_notify without a native addon: NOTIFY_SOCKET is a unix DATAGRAM socket,
 * which Node cannot open, so every notification is one `systemd-notify
 * --pid=<agent>` run (~20 ms, measured in the lab robot). systemd-notify waits
 * until systemd processed the message (a barrier), and as root it sends the
 * AGENT's pid as the sender, so systemd accepts it with the default
 * NotifyAccess=main (not root: set NotifyAccess=all in the unit).
 */
export interface Notifier {
  /** READY=1 (Type=notify: `systemctl start` returns, dependents start). */
  ready(status: string): Promise<void>;
  /** STATUS= shown by `systemctl status`. */
  status(text: string): Promise<void>;
  stopping(): Promise<void>;
  /**
   * Pings WATCHDOG=1 at half of WatchdogSec from an event-loop timer, each time
   * only after `poolProbe` returned: a blocked loop or a libuv thread pool whose
   * threads are all stuck (e.g. in blocking opens) sends nothing, and systemd
   * kills and restarts the agent (Restart=). Returns a stop function; a no-op
   * when the unit has no WatchdogSec.
   */
  startWatchdog(poolProbe: PoolProbe): () => void;
}

/** A call that needs a libuv pool thread to complete (an fs.stat of a known path); its result does not matter. */
export type PoolProbe = () => Promise<unknown>;

export interface NotifyDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly pid: number;
  readonly runner: CommandRunner;
  readonly log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  /** systemd-notify's path (default: from PATH). */
  readonly command?: string;
}

const NOTIFY_TIMEOUT_MS = 5_000;
/** What systemd hands the agent for notifications; its children are not meant to have them. */
const NOTIFY_VARS = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

/**
 * Takes systemd's notification variables out of `env` (the process's own, at start-up, before any
 * child): with NotifyAccess=all, a child that inherited NOTIFY_SOCKET could speak for the agent
 * (systemctl did: "Got notification message from PID …"). Returns the environment the notifier
 * runs systemd-notify with: `env` as it was.
 */
export function detachNotifyEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const before = { ...env };
  for (const v of NOTIFY_VARS) delete env[v];
  return before;
}

/** undefined when systemd did not ask for notifications (no NOTIFY_SOCKET: not Type=notify). */
export function systemdNotifier(d: NotifyDeps): Notifier | undefined {
  if (!d.env.NOTIFY_SOCKET) return undefined;
  let failing = false;
  const send = async (...assignments: string[]): Promise<boolean> => {
    const argv = [d.command ?? "systemd-notify", `--pid=${d.pid}`, ...assignments];
    const r = await d.runner.run(argv, { timeoutMs: NOTIFY_TIMEOUT_MS, env: d.env }).catch((e: unknown) => ({
      code: -1,
      stdout: "",
      stderr: (e as Error).message,
    }));
    const ok = r.code === 0;
    if (!ok && !failing) d.log.warn({ argv, code: r.code, stderr: r.stderr.trim() }, "systemd-notify failed");
    failing = !ok;
    return ok;
  };
  return {
    ready: async (status) => {
      await send("READY=1", `STATUS=${status}`);
    },
    status: async (text) => {
      await send(`STATUS=${text}`);
    },
    stopping: async () => {
      await send("STOPPING=1");
    },
    startWatchdog: (poolProbe) => {
      const usec = Number(d.env.WATCHDOG_USEC ?? "");
      const forPid = d.env.WATCHDOG_PID;
      if (!Number.isFinite(usec) || usec <= 0 || (forPid !== undefined && Number(forPid) !== d.pid))
        return () => {};
      const everyMs = Math.max(500, Math.floor(usec / 2000));
      let inFlight = false;
      let probing = false;
      let stalled = false;
      let last = Date.now();
      const ping = () => {
        probing = false;
        if (stalled) d.log.warn({}, "thread pool answers again; watchdog pings resume");
        stalled = false;
        // A hung systemd-notify must not pile up pings; the next tick tries again.
        if (inFlight) return;
        inFlight = true;
        void send("WATCHDOG=1").finally(() => {
          inFlight = false;
        });
      };
      const timer = setInterval(() => {
        const now = Date.now();
        const lateMs = now - last - everyMs;
        last = now;
        if (lateMs > everyMs / 2) d.log.warn({ lateMs }, "event loop was blocked; watchdog ping late");
        if (probing) {
          if (!stalled) {
            d.log.warn(
              { waitedMs: everyMs },
              "thread pool health ping has not returned; withholding watchdog pings (systemd restarts a stuck agent)",
            );
          }
          stalled = true;
          return;
        }
        probing = true;
        // An error is an answer too: a pool thread ran the call.
        poolProbe().then(ping, ping);
      }, everyMs);
      timer.unref();
      d.log.debug({ everyMs, watchdogSeconds: usec / 1e6 }, "systemd watchdog pings started");
      return () => clearInterval(timer);
    },
  };
}
