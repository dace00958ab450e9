import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { DeploymentRecord } from "../deployment/record.js";
import type { CommandResult, CommandRunner } from "./command.js";
import { SelfRestart } from "./self-restart.js";
import { type SystemdRetry, systemdRetry } from "./systemd-retry.js";

const log = pino({ level: "silent" });
const noWait: SystemdRetry = { ...systemdRetry(() => {}), sleep: async () => {} };
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** systemctl show answers with a symlink we re-point, like /etc/systemd/system → /etc/static → store. */
function rig(dropped = 0) {
  dir = mkdtempSync(join(tmpdir(), "rr-self-"));
  for (const v of ["v1", "v2"]) writeFileSync(join(dir, `unit-${v}`), `[Service]\n# ${v}\n`);
  const link = join(dir, "ros-rollback-agent.service");
  symlinkSync(join(dir, "unit-v1"), link);
  const calls: string[][] = [];
  const runner: CommandRunner = {
    run: async (argv): Promise<CommandResult> => {
      calls.push([...argv]);
      if (argv[0] === "systemctl" && dropped-- > 0)
        return { code: 1, stdout: "", stderr: "Failed to get properties: Connection reset by peer\n" };
      if (argv[0] === "systemctl") return { code: 0, stdout: `${link}\n`, stderr: "" };
      return { code: 0, stdout: "", stderr: "" };
    },
  };
  const repoint = () => {
    rmSync(link);
    symlinkSync(join(dir, "unit-v2"), link);
  };
  return { runner, calls, repoint };
}

const kept = { id: "d-1", kind: "activate", state: "succeeded", action: "switch" } as DeploymentRecord;

describe("SelfRestart", () => {
  it("does nothing when the kept deployment left the agent's unit as it was", async () => {
    const r = rig();
    const s = new SelfRestart("ros-rollback-agent.service", r.runner, log, noWait);
    await s.init();
    expect(await s.onDeployment(kept)).toBe(false);
    expect(r.calls.some((c) => c[0] === "systemd-run")).toBe(false);
  });

  it("restarts the agent from a transient unit once a kept deployment changed it, and only once", async () => {
    const r = rig();
    const s = new SelfRestart("ros-rollback-agent.service", r.runner, log, noWait);
    await s.init();
    r.repoint();
    expect(await s.onDeployment({ ...kept, state: "awaiting_confirmation" })).toBe(false);
    expect(await s.onDeployment({ ...kept, state: "rolled_back" })).toBe(false);
    expect(await s.onDeployment(kept)).toBe(true);
    const run = r.calls.find((c) => c[0] === "systemd-run");
    expect(run).toEqual(
      expect.arrayContaining(["--on-active=2", "systemctl", "restart", "ros-rollback-agent.service"]),
    );
    expect(await s.onDeployment({ ...kept, id: "d-2" })).toBe(false);
  });

  it("reads its unit at start even when systemd drops the first question (a start at the end of a boot)", async () => {
    const r = rig(1);
    const s = new SelfRestart("ros-rollback-agent.service", r.runner, log, noWait);
    await s.init();
    r.repoint();
    expect(await s.onDeployment(kept)).toBe(true);
    expect(r.calls.filter((c) => c[0] === "systemctl").length).toBe(3);
  });
});
