// A relay restart under N connected simulated robots (bench/relay/scale.ts): the relay stopped
// (SIGTERM) and started on the same ports; each robot redials on its back-off. Measured per robot
// (sim-robots.ts, from its link's log): how late it connected after the attempt its back-off had
// scheduled: the relay's handshake queue, on top of the delay the robot chose to wait.
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";

export interface RestartResult {
  downSeconds: number;
  /** From the relay listening again to all N connected. */
  reconnectSeconds: number;
  reconnected: number;
  /** Connected − scheduled attempt, per robot, in ms. */
  late: { p50: number; p95: number; max: number; robots: number };
}

/** The q-quantile (0–1) of `xs` by nearest rank; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export async function restartRelay(o: {
  relay: ChildProcess;
  start: () => ChildProcess;
  robots: ChildProcess;
  n: number;
  /** The relay's robots_connected gauge, undefined while it does not answer. */
  connected: () => Promise<number | undefined>;
  poll: <T>(f: () => Promise<T>, ok: (v: T) => boolean, ms: number) => Promise<T>;
}): Promise<{ relay: ChildProcess; result: RestartResult }> {
  o.robots.send({ reset: true });
  const tDown = performance.now();
  o.relay.kill("SIGTERM");
  await once(o.relay, "exit");
  const relay = o.start();
  await o.poll(o.connected, (c) => c !== undefined, 30_000);
  const tUp = performance.now();
  const reconnected = (await o.poll(o.connected, (c) => c === o.n, 180_000)) ?? 0;
  const reconnectSeconds = (performance.now() - tUp) / 1000;
  const reported = once(o.robots, "message");
  o.robots.send({ report: true });
  const [{ lateMs }] = (await reported) as [{ lateMs: number[] }];
  return {
    relay,
    result: {
      downSeconds: (tUp - tDown) / 1000,
      reconnectSeconds,
      reconnected,
      late: {
        p50: quantile(lateMs, 0.5),
        p95: quantile(lateMs, 0.95),
        max: quantile(lateMs, 1),
        robots: lateMs.length,
      },
    },
  };
}
