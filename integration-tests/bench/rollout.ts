// Wall time of a rollout to N lab robots against a deploy to one robot, same closure (issue 9's
// goal: ≤ 2× for 5 robots). Needs root, like the lab.
//   node --import tsx integration-tests/bench/rollout.ts [--robots 5] [--prefix bench-] [--keep] [-- ROLLOUT FLAGS…]
// Prints one JSON line: {"robots","singleSeconds","rolloutSeconds","ratio","flags"}.
import { parseArgs } from "node:util";
import { buildSystems, labDownMany, labInventory, labUpMany, waitForAgent } from "../lab/index.js";
import { controller } from "../support/controller.js";
import { rolloutArgs, runCli } from "../support/fleet.js";

const OLD = "flag-talker";
const NEW = "flag-talker-header";

const { values, positionals } = parseArgs({
  options: {
    robots: { type: "string", default: "5" },
    prefix: { type: "string", default: "bench-" },
    keep: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const count = Number(values.robots);
if (!Number.isInteger(count) || count < 1 || count > 50) throw new Error("--robots wants 1-50");
const names = Array.from({ length: count }, (_, i) => `${values.prefix}${i + 1}`);
const flags = positionals.length > 0 ? positionals : ["--batch", "100%", "--max-parallel", String(count)];

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const seconds = (start: number): number => Math.round((Date.now() - start) / 100) / 10;

async function main(): Promise<void> {
  const [robots, systems] = await Promise.all([labUpMany(names, { log }), buildSystems()]);
  await Promise.all(names.map((n) => waitForAgent(n, { timeoutMs: 60_000 })));
  const fleet = await labInventory(names);
  const path = (s: string): string => systems[s] ?? "";
  const deployOne = async (i: number, system: string): Promise<void> => {
    const robot = robots[i];
    if (robot === undefined) throw new Error(`no robot ${i}`);
    const run = await controller(robot, ["deploy", path(system), "--sign-key", fleet.signingKey], 300_000);
    if (run.code !== 0)
      throw new Error(`${robot.name}: deploy ${system} exited ${run.code}: ${run.stderr.slice(-500)}`);
  };
  log("bench: every robot on the old system (not timed)");
  for (let i = 0; i < count; i++) await deployOne(i, OLD);

  let start = Date.now();
  await deployOne(0, NEW);
  const singleSeconds = seconds(start);
  log(`bench: one robot: ${singleSeconds} s`);
  await deployOne(0, OLD);

  start = Date.now();
  const run = await runCli(rolloutArgs(fleet, path(NEW), { all: true }, flags), 900_000);
  const rolloutSeconds = seconds(start);
  if (run.code !== 0) throw new Error(`rollout exited ${run.code}: ${run.stderr.slice(-800)}`);
  const ratio = Math.round((rolloutSeconds / singleSeconds) * 100) / 100;
  process.stdout.write(`${JSON.stringify({ robots: count, singleSeconds, rolloutSeconds, ratio, flags })}\n`);
  if (!values.keep) await labDownMany(names);
}

main().catch((e: unknown) => {
  log(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
