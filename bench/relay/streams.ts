// Relay streams alone (bench/relay/scale.ts, streams-by-size.ts): for each robot, the controller's
// dial to the relay → the relay asks the robot → the robot's stream connection → `ok`, then closed;
// no end-to-end TLS and no Status inside. Dialled as the CLI dials (one secure context, the relay's
// session resumed), so it is status --all's relay part, and the CPU each process spent on it.
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { dialThroughRelay, RelaySessions } from "../../controller/src/relay/dial.js";
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
  const endpoint = {
    address: relay.address,
    secureContext: createSecureContext({
      ca: readFileSync(relay.caFile),
      cert: readFileSync(relay.certFile),
      key: readFileSync(relay.keyFile),
    }),
    sessions: new RelaySessions(),
  };
  const cpu0 = { relay: cpuSeconds(pids.relay), robots: cpuSeconds(pids.robots), me: process.cpuUsage() };
  const t = performance.now();
  const ok = await forEachTarget(names, parallel, (robot) =>
    dialThroughRelay(endpoint, robot, 30_000).then(
      (s) => {
        s.destroy();
        return 1;
      },
      () => 0,
    ),
  );
  const me = process.cpuUsage(cpu0.me);
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
