import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type CommandRunner, ProcessRunner } from "../system/command.js";
import { detachNotifyEnv, systemdNotifier } from "./systemd-notify.js";

function recorder(code = 0) {
  const calls: string[][] = [];
  const runner: CommandRunner = {
    run: async (argv) => {
      calls.push([...argv]);
      return {
        code,
        stdout: "",
        stderr: code === 0 ? "" : "Failed to notify init system: Operation not permitted",
      };
    },
  };
  const warnings: string[] = [];
  const log = { warn: (_o: object, msg: string) => warnings.push(msg), debug: () => {} };
  return { calls, runner, log, warnings };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("systemd notifications through systemd-notify --pid", () => {
  it("does nothing outside Type=notify (no NOTIFY_SOCKET)", () => {
    const r = recorder();
    expect(systemdNotifier({ env: {}, pid: 42, runner: r.runner, log: r.log })).toBeUndefined();
  });

  it("takes NOTIFY_SOCKET out of the agent's environment: only systemd-notify runs with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-notify-"));
    try {
      const notify = join(dir, "systemd-notify");
      writeFileSync(notify, `#!/bin/sh\necho "$NOTIFY_SOCKET $WATCHDOG_USEC $*" > ${dir}/notified\n`);
      chmodSync(notify, 0o755);
      const env = {
        PATH: process.env.PATH,
        NOTIFY_SOCKET: "/run/n",
        WATCHDOG_USEC: "30000000",
        WATCHDOG_PID: "42",
      };
      const notifyEnv = detachNotifyEnv(env);
      expect(env).toEqual({ PATH: process.env.PATH });
      const runner = new ProcessRunner();
      const n = systemdNotifier({ env: notifyEnv, pid: 42, runner, log: recorder().log, command: notify });
      await n?.ready("up");
      expect(readFileSync(join(dir, "notified"), "utf8")).toBe(
        "/run/n 30000000 --pid=42 READY=1 STATUS=up\n",
      );
      // Any other child, with the environment left: nothing to notify with.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a template
      const other = await runner.run(["sh", "-c", 'echo "${NOTIFY_SOCKET-unset}"'], { env });
      expect(other.stdout).toBe("unset\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sends READY=1 with a status and STOPPING=1 as the agent's pid", async () => {
    const r = recorder();
    const n = systemdNotifier({
      env: { NOTIFY_SOCKET: "/run/systemd/notify" },
      pid: 42,
      runner: r.runner,
      log: r.log,
    });
    await n?.ready("listening on 0.0.0.0:50051");
    await n?.stopping();
    expect(r.calls).toEqual([
      ["systemd-notify", "--pid=42", "READY=1", "STATUS=listening on 0.0.0.0:50051"],
      ["systemd-notify", "--pid=42", "STOPPING=1"],
    ]);
  });

  it("pings the watchdog at half of WatchdogSec from an event-loop timer", async () => {
    vi.useFakeTimers();
    const r = recorder();
    const env = { NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "20000000", WATCHDOG_PID: "42" };
    const stop = systemdNotifier({ env, pid: 42, runner: r.runner, log: r.log })?.startWatchdog(
      async () => {},
    );
    await vi.advanceTimersByTimeAsync(35_000);
    expect(r.calls).toEqual([
      ["systemd-notify", "--pid=42", "WATCHDOG=1"],
      ["systemd-notify", "--pid=42", "WATCHDOG=1"],
      ["systemd-notify", "--pid=42", "WATCHDOG=1"],
    ]);
    stop?.();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(r.calls.length).toBe(3);
  });

  it("leaves the watchdog alone when it is meant for another process, and warns once when pings fail", async () => {
    vi.useFakeTimers();
    const r = recorder(1);
    const other = { NOTIFY_SOCKET: "/n", WATCHDOG_USEC: "2000000", WATCHDOG_PID: "7" };
    systemdNotifier({ env: other, pid: 42, runner: r.runner, log: r.log })?.startWatchdog(async () => {});
    await vi.advanceTimersByTimeAsync(5_000);
    expect(r.calls).toEqual([]);
    const mine = { NOTIFY_SOCKET: "/n", WATCHDOG_USEC: "2000000" };
    const stop = systemdNotifier({ env: mine, pid: 42, runner: r.runner, log: r.log })?.startWatchdog(
      async () => {},
    );
    await vi.advanceTimersByTimeAsync(5_000);
    stop?.();
    expect(r.calls.length).toBe(5);
    expect(r.warnings).toEqual(["systemd-notify failed"]);
  });
});
