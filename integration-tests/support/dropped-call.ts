// One systemd call dropped during a deploy (fault-hold.sh's TOOL.fail): what the controller said,
// whether the flag was used, and the agent's "asking systemd again" lines the deploy added.
import { HOLD_DIR } from "../lab/index.js";
import type { CliRun } from "./controller.js";
import type { Robot } from "./faults.js";

export interface DroppedCall {
  readonly run: CliRun;
  /** The deployment the agent recorded. */
  readonly id: string;
  /** The flag became TOOL.fail.used: a call was dropped. */
  readonly used: boolean;
  readonly retries: readonly string[];
}

async function retryLines(robot: Robot): Promise<string[]> {
  const journal = await robot.exec(["journalctl", "-u", "ros-rollback-agent", "-o", "cat", "--no-pager"]);
  return journal.stdout.split("\n").filter((l) => l.includes("asking systemd again"));
}

/** Deploys with the next call of `tool` whose arguments contain `word` failing once. */
export async function deployDroppingOnce(
  robot: Robot,
  tool: "systemctl" | "systemd-run",
  word: string,
  deploy: () => Promise<CliRun>,
): Promise<DroppedCall> {
  const before = (await retryLines(robot)).length;
  await robot.hold(`${tool}.fail`, word);
  const run = await deploy();
  const used = (await robot.exec(["test", "-e", `${HOLD_DIR}/${tool}.fail.used`])).code === 0;
  const id = (await robot.record())?.id ?? "";
  await robot.release();
  return { run, id, used, retries: (await retryLines(robot)).slice(before) };
}
