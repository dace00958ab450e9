// The deploy and rollback suites (issue 13) on one fresh lab robot, bd-1: tables on stdout, the
// same merged into bench/results/latest.json under "redeploy" and "rollback".
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSystems, labDown, labUp, waitForAgent } from "../../integration-tests/lab/index.js";
import { agentClient } from "../../integration-tests/support/controller.js";
import { redeploySuite, redeployTables } from "./deploy.js";
import { rollbackSuite, rollbackTables } from "./rollback.js";

const ROBOT = "bd-1";
/**
 * The shortest health windows the lab allows a deploy: settle 0 (a deploy may lower it); stable
 * stays the lab agent's 4 s (a deploy may only raise it), interval 1 s; the lab's
 * switch-to-configuration itself settles 3 s before it reports.
 */
export const HEALTH = { settleSeconds: 0 } as const;
export const WINDOWS = { settleSeconds: 0, stableSeconds: 4, intervalSeconds: 1, labSwitchSettleSeconds: 3 };
const CONFIRM_TIMEOUT_SECONDS = 3;
const RESULTS = new URL("../results/latest.json", import.meta.url);

export interface DeploySuitesOptions {
  readonly runs: number;
  /** Which suites run: those of "redeploy" and "rollback" it holds (BENCH_SUITES). */
  readonly suites: ReadonlySet<string>;
  /** Redeploy closure: payload paths and MiB in all (BENCH_DEPLOY_PATHS, BENCH_DEPLOY_MB). */
  readonly paths: number;
  readonly mb: number;
  readonly log: (line: string) => void;
}

/** Merges `part` (a suite's top-level keys) into bench/results/latest.json: other suites' keys stay. */
export function mergeResults(part: Record<string, unknown>): void {
  const old = existsSync(RESULTS)
    ? (JSON.parse(readFileSync(RESULTS, "utf8")) as Record<string, unknown>)
    : {};
  mkdirSync(new URL("./", RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify({ ...old, ...part }, null, 2)}\n`);
}

export async function deploySuites(o: DeploySuitesOptions): Promise<void> {
  const want = (s: string) => o.suites.has(s);
  const healthFile = join(tmpdir(), `bench-health-${process.pid}.json`);
  writeFileSync(healthFile, JSON.stringify(HEALTH));
  const [robot, systems] = await Promise.all([labUp(ROBOT, { log: o.log }), buildSystems()]);
  const client = agentClient(robot);
  try {
    await waitForAgent(ROBOT, { timeoutMs: 60_000 });
    const part: Record<string, unknown> = {
      deployWindows: WINDOWS,
      confirmTimeoutSeconds: CONFIRM_TIMEOUT_SECONDS,
    };
    if (want("redeploy")) {
      const r = await redeploySuite({
        robot,
        client,
        runs: o.runs,
        paths: o.paths,
        bytesPerPath: Math.floor((o.mb * 2 ** 20) / o.paths),
        healthFile,
        log: o.log,
      });
      process.stdout.write(`${redeployTables(r)}\n\n`);
      part.redeploy = { when: new Date().toISOString(), ...r };
    }
    if (want("rollback")) {
      const r = await rollbackSuite({
        robot,
        client,
        runs: o.runs,
        systems,
        healthFile,
        healthJson: JSON.stringify(HEALTH),
        confirmTimeoutSeconds: CONFIRM_TIMEOUT_SECONDS,
        log: o.log,
      });
      process.stdout.write(`${rollbackTables(r)}\n\n`);
      part.rollback = { when: new Date().toISOString(), ...r };
    }
    mergeResults(part);
  } finally {
    client.close();
    rmSync(healthFile, { force: true });
    await labDown(ROBOT);
  }
}
