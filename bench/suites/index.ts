// The redeploy and rollback suites (issue 13) as run.ts calls them: each on its own fresh robot,
// with the shortest health windows the lab allows a deploy.
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSystems } from "../../integration-tests/lab/index.js";
import { agentClient } from "../../integration-tests/support/controller.js";
import { gcSuite, gcTables } from "./gc.js";
import { redeploySuite, redeployTables } from "./redeploy.js";
import { rollbackSuite, rollbackTables } from "./rollback.js";
import type { SuiteContext, SuiteResult } from "./suite.js";

export { transfers } from "./transfers.js";

/**
 * Settle 0 (a deploy may lower it); stable stays the lab agent's 4 s (a deploy may only raise it),
 * interval 1 s; the lab's switch-to-configuration itself settles 3 s before it reports.
 */
export const HEALTH = { settleSeconds: 0 } as const;
export const WINDOWS = { settleSeconds: 0, stableSeconds: 4, intervalSeconds: 1, labSwitchSettleSeconds: 3 };
const CONFIRM_TIMEOUT_SECONDS = 3;

/** Runs `f` with the robot's agent client and a --health file; both gone after. */
async function withDeployKit<T>(
  ctx: SuiteContext,
  f: (kit: { client: ReturnType<typeof agentClient>; healthFile: string }) => Promise<T>,
): Promise<T> {
  const healthFile = join(tmpdir(), `bench-health-${process.pid}.json`);
  writeFileSync(healthFile, JSON.stringify(HEALTH));
  const client = agentClient(ctx.robot);
  try {
    return await f({ client, healthFile });
  } finally {
    client.close();
    rmSync(healthFile, { force: true });
  }
}

export function redeploy(ctx: SuiteContext): Promise<SuiteResult> {
  return withDeployKit(ctx, async ({ client, healthFile }) => {
    const { paths, mib } = ctx.opts.deploy;
    const r = await redeploySuite({
      robot: ctx.robot,
      client,
      runs: ctx.opts.runs,
      paths,
      bytesPerPath: Math.floor((mib * 2 ** 20) / paths),
      healthFile,
      log: ctx.log,
    });
    return { json: { deployWindows: WINDOWS, ...r }, text: redeployTables(r) };
  });
}

export function rollback(ctx: SuiteContext): Promise<SuiteResult> {
  return withDeployKit(ctx, async ({ client, healthFile }) => {
    const r = await rollbackSuite({
      robot: ctx.robot,
      client,
      runs: ctx.opts.runs,
      systems: await buildSystems(),
      healthFile,
      healthJson: JSON.stringify(HEALTH),
      confirmTimeoutSeconds: CONFIRM_TIMEOUT_SECONDS,
      log: ctx.log,
    });
    return {
      json: { deployWindows: WINDOWS, confirmTimeoutSeconds: CONFIRM_TIMEOUT_SECONDS, ...r },
      text: rollbackTables(r),
    };
  });
}

/** BENCH_GC_MB (default 150) per system, in 10 paths; BENCH_GC_GENERATIONS (default 10) collected. */
export function gc(ctx: SuiteContext): Promise<SuiteResult> {
  return withDeployKit(ctx, async ({ healthFile }) => {
    const { mib, generations } = ctx.opts.gc;
    const paths = 10;
    const r = await gcSuite({
      robot: ctx.robot,
      runs: ctx.opts.runs,
      generations,
      paths,
      bytesPerPath: Math.floor((mib * 2 ** 20) / paths),
      healthFile,
      log: ctx.log,
    });
    return { json: { deployWindows: WINDOWS, ...r }, text: gcTables(r) };
  });
}
