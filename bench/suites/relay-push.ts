// The relay-push suite (issue 27): the transfers suite's veth closure pushed to ONE robot directly
// and through the lab relay, alternating, BENCH_RUNS times. The robot boots behind NAT (its agent
// dials out to the relay), then its inbound block is lifted so the same agent also takes the direct
// connection: both pushes use the same certificates, agent and closure; only the route differs.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createSecureContext } from "node:tls";
import { computeClosure, signPaths } from "../../controller/src/closure/index.js";
import { joinDedicated } from "../../controller/src/relay/dedicated.js";
import { RelayClient } from "../../controller/src/relay/dial.js";
import { viaRelay } from "../../controller/src/relay/via-relay.js";
import { netnsName } from "../../integration-tests/lab/config.js";
import { run } from "../../integration-tests/lab/proc.js";
import { buildClosure, deleteClosure } from "../closure.js";
import { directTarget, type Target } from "../links/index.js";
import { forget } from "../measure.js";
import { push } from "../variants/push.js";
import type { SuiteContext, SuiteResult } from "./suite.js";

const MIB = 2 ** 20;
const GOAL_RATIO = 1.15;
// relay: the raw push on a dedicated relay connection (plain TCP of its own on both legs, admitted by
// a ticket), as the CLI does; relay-mux: the raw push on a stream of the multiplexed HTTP/2 legs, as
// other calls go: what the dedicated connection must beat to keep its lines.
const ROUTES = ["direct", "relay", "relay-mux"] as const;
type Route = (typeof ROUTES)[number];

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

/** Lets the NAT'd robot take direct connections again (its agent keeps dialing the relay). */
async function allowInbound(name: string): Promise<void> {
  await run("ip", ["netns", "exec", netnsName(name), "nft", "delete", "table", "inet", "lab_nat"], {
    timeoutMs: 10_000,
  });
}

export async function relayPush(ctx: SuiteContext): Promise<SuiteResult> {
  const { robot, opts, log } = ctx;
  if (robot.relay === undefined)
    throw new Error(`robot ${robot.name} is not behind the relay: up it with --nat`);
  await allowInbound(robot.name);
  const direct = directTarget(robot);
  const viaTarget = {
    name: robot.name,
    address: robot.address,
    ...direct.tls,
    serverName: robot.name,
    relay: { address: robot.relay.address, name: robot.relay.name, caFile: robot.relay.caFile },
  };
  const relayClient = new RelayClient({
    address: robot.relay.address,
    secureContext: createSecureContext({
      ca: readFileSync(robot.relay.caFile),
      cert: readFileSync(direct.tls.certFile),
      key: readFileSync(direct.tls.keyFile),
    }),
  });
  const routed = await viaRelay(viaTarget, relayClient, 10_000);
  const targets: Record<Route, Target> = {
    direct,
    relay: {
      ...direct,
      agentAddress: routed.target.address,
      serverName: routed.target.serverName,
      // The dedicated connection itself (the CLI's dialBulk would fall back to a shared stream).
      dial: async () =>
        joinDedicated(relayClient.address, await relayClient.ticket(viaTarget.relay.name, 10_000), 10_000),
    },
    "relay-mux": {
      ...direct,
      agentAddress: routed.target.address,
      serverName: routed.target.serverName,
      dial: routed.dial,
    },
  };
  const closure = await buildClosure(
    "random",
    `relay-${Date.now().toString(36)}`,
    opts.veth.paths,
    opts.veth.mib * MIB,
  );
  try {
    const infos = await signPaths(
      await computeClosure(closure.root, AbortSignal.timeout(120_000)),
      robot.signingKey,
      AbortSignal.timeout(120_000),
    );
    const paths = infos.map((i) => i.storePath).reverse();
    const mib = closure.bytes / MIB;
    const seconds: Record<Route, number[]> = { direct: [], relay: [], "relay-mux": [] };
    const ratios: number[] = [];
    const muxRatios: number[] = [];
    const dedicatedRatios: number[] = [];
    const loads: number[] = [];
    for (let r = 0; r < opts.runs; r++) {
      // Alternating: neither route always goes first.
      const order = r % 2 === 0 ? ROUTES : [...ROUTES].reverse();
      const got: Partial<Record<Route, number>> = {};
      for (const route of order) {
        const m = await push(targets[route], infos, "none");
        got[route] = m.seconds;
        seconds[route].push(m.seconds);
        log(
          `relay-push run ${r + 1}/${opts.runs} ${route}: ${m.seconds.toFixed(2)} s, load ${loadavg()[0]?.toFixed(1)}`,
        );
        await forget(robot.name, paths);
      }
      ratios.push((got.relay ?? Number.NaN) / (got.direct ?? Number.NaN));
      muxRatios.push((got["relay-mux"] ?? Number.NaN) / (got.direct ?? Number.NaN));
      dedicatedRatios.push((got.relay ?? Number.NaN) / (got["relay-mux"] ?? Number.NaN));
      loads.push(loadavg()[0] ?? Number.NaN);
    }
    const ratio = median(ratios);
    const muxRatio = median(muxRatios);
    const row = (route: Route) => {
      const xs = seconds[route];
      return `| push-none ${route} | ${median(xs).toFixed(2)} | ${Math.min(...xs).toFixed(2)} | ${Math.max(...xs).toFixed(2)} | ${(mib / median(xs)).toFixed(1)} |`;
    };
    const met = ratio <= GOAL_RATIO ? "met" : "**missed**";
    const text = [
      `${infos.length} paths, ${mib.toFixed(1)} MiB (random), ${opts.runs} runs alternating; load ${loads.map((l) => l.toFixed(1)).join(", ")}`,
      "",
      "| route | median s | min s | max s | MiB/s |",
      "|---|---|---|---|---|",
      row("direct"),
      row("relay"),
      row("relay-mux"),
      "",
      `- relay ÷ direct, median of the per-run ratios (goal ≤ ${GOAL_RATIO}×): ${ratio.toFixed(2)}×, ${met} (runs: ${ratios.map((x) => x.toFixed(2)).join(", ")})`,
      `- relay-mux ÷ direct (the push on a multiplexed stream): ${muxRatio.toFixed(2)}× (runs: ${muxRatios.map((x) => x.toFixed(2)).join(", ")})`,
      `- relay ÷ relay-mux (the dedicated connection vs a multiplexed stream; < 1 pays): ${median(dedicatedRatios).toFixed(2)}× (runs: ${dedicatedRatios.map((x) => x.toFixed(2)).join(", ")})`,
    ].join("\n");
    return {
      json: {
        closure: { paths: infos.length, mib },
        seconds,
        ratios,
        ratio,
        muxRatios,
        muxRatio,
        dedicatedRatios,
        goalRatio: GOAL_RATIO,
        loads,
      },
      text,
    };
  } finally {
    routed.proxy.close();
    relayClient.close();
    await deleteClosure(closure).catch((e: unknown) =>
      log(`bench: could not delete ${closure.root}: ${String(e)}`),
    );
  }
}
