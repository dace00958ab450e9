// Relay streams alone (bench/relay/scale.ts): for each robot, the controller's
// CONNECT on its one connection to the relay → the relay's stream on the robot's control
// connection → 200, then closed; no end-to-end TLS and no Status inside. Dialled as the CLI dials
// (one RelayClient), so it is status --all's relay part, and the CPU each process spent on it.
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { RelayClient } from "../../controller/src/relay/dial.js";
import { forEachTarget } from "../../controller/src/targets/pool.js";
import { cpuSeconds } from "./cpu.js";

export interface StreamsRun {
  parallel: number;
  seconds: number;
  opened: number;
  /** CPU seconds during it: the relay, the simulated robots' process, this (the dialling) process. */
  cpu: { relay: number; robots: number; controller: number };
}

export async function openStreams(
  relay: { address: string; caFile: string; certFile: string; keyFile: string },
  names: readonly string[],
  parallel: number,
  pids: { relay: number; robots: number },
): Promise<StreamsRun> {
  const client = new RelayClient({
    address: relay.address,
    secureContext: createSecureContext({
      ca: readFileSync(relay.caFile),
      cert: readFileSync(relay.certFile),
      key: readFileSync(relay.keyFile),
    }),
  });
  const cpu0 = { relay: cpuSeconds(pids.relay), robots: cpuSeconds(pids.robots), me: process.cpuUsage() };
  const t = performance.now();
  const ok = await forEachTarget(names, parallel, (robot) =>
    client.dial(robot, 30_000).then(
      (s) => {
        s.destroy();
        return 1;
      },
      () => 0,
    ),
  );
  const me = process.cpuUsage(cpu0.me);
  client.close();
  return {
    parallel,
    seconds: (performance.now() - t) / 1000,
    opened: ok.reduce<number>((a, b) => a + b, 0),
    cpu: {
      relay: cpuSeconds(pids.relay) - cpu0.relay,
      robots: cpuSeconds(pids.robots) - cpu0.robots,
      controller: (me.user + me.system) / 1e6,
    },
  };
}
