// What every fault-matrix cell must end in, without a human: the record final, the robot on a
// healthy generation that is either the new one, confirmed, or exactly the recorded previous one,
// no switch unit left, the store verifying, and the controller's exit code saying which.
import { DeploymentState, type HealthReport } from "@ros-rollback/proto";
import { expect } from "vitest";
import type { LabRobot } from "../lab/index.js";
import { waitFinal } from "./agent.js";
import { agentClient, type CliRun } from "./controller.js";
import { type Robot, until } from "./faults.js";

export interface Ended {
  readonly where: "kept" | "rolled back";
  readonly state: string;
  readonly code: number;
  readonly generation: number;
}

export async function expectSettled(
  lab: LabRobot,
  robot: Robot,
  deploymentId: string,
  storePath: string,
  run: CliRun,
): Promise<Ended> {
  const done = await waitFinal(() => agentClient(lab), deploymentId, 120_000);
  const state = DeploymentState[done.state];
  const current = (await robot.exec(["readlink", "/run/current-system"])).stdout.trim();
  const profile = (await robot.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim();
  const json = run.json as { outcome?: string; confirmed?: boolean } | undefined;
  let where: Ended["where"];
  if (state === "DEPLOYMENT_STATE_SUCCEEDED") {
    where = "kept";
    expect(current).toBe(storePath);
    expect(profile).toBe(storePath);
    expect(json?.confirmed, run.stderr).toBe(true);
    expect(run.code, run.stderr).toBe(0);
  } else {
    expect(state, done.message).toBe("DEPLOYMENT_STATE_ROLLED_BACK");
    where = "rolled back";
    expect(done.previousStorePath).not.toBe("");
    expect(current).toBe(done.previousStorePath);
    expect(profile).toBe(done.previousStorePath);
    const gens = (await robot.exec(["ls", "/nix/var/nix/profiles"])).stdout;
    expect(gens).not.toMatch(new RegExp(`^system-${done.generation}-link$`, "m"));
    expect(run.code, run.stderr).toBe(2);
  }
  const units = await robot.exec(["systemctl", "list-units", "--all", "--plain", "--no-legend"]);
  const left = units.stdout
    .split("\n")
    .filter((l) => /ros-rollback-(switch|rollback)-|switch-to-configuration/.test(l));
  expect(left).toEqual([]);
  // The agent restarted only when a cell killed it: never by its watchdog.
  const journal = await robot.exec(["journalctl", "-u", "ros-rollback-agent", "-o", "cat", "--no-pager"]);
  expect(journal.stdout).not.toMatch(/[Ww]atchdog timeout/);
  const verify = await robot.exec(["nix-store", "--verify", "--check-contents"], 120_000);
  expect(verify.code, verify.stderr).toBe(0);
  const c = agentClient(lab);
  try {
    await until(
      "a healthy robot",
      () =>
        new Promise<true | undefined>((resolve) =>
          c.checkHealth({}, (e, r: HealthReport) => resolve(!e && r.healthy ? true : undefined)),
        ),
      30_000,
    );
  } finally {
    c.close();
  }
  const generation = Number(
    (await robot.exec(["readlink", "/nix/var/nix/profiles/system"])).stdout.match(/system-(\d+)-link/)?.[1],
  );
  return { where, state: state ?? String(done.state), code: run.code, generation };
}
