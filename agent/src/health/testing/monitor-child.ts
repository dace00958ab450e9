/**
 * A process like the agent for the signal tests: watches one topic through a
 * RosnodejsMonitor, prints "ready" once a message arrived, then on SIGTERM or
 * SIGINT calls close() and lets the process end by itself (no process.exit),
 * so a handle that rosnodejs leaves open would show as a process that does not
 * exit. With `--no-handler` it installs no handler: the default action must apply.
 * Usage: monitor-child.ts MASTER_URI TOPIC NODE_NAME [--no-handler]
 */
import { monotonicClock } from "../clock.js";
import { RosnodejsMonitor } from "../ros/rosnodejs-monitor.js";

const [masterUri, topic, nodeName, flag] = process.argv.slice(2);
if (masterUri === undefined || topic === undefined || nodeName === undefined) throw new Error("usage");
const monitor = new RosnodejsMonitor({
  masterUri,
  nodeName,
  advertiseIp: "127.0.0.1",
  masterTimeoutMs: 2000,
  retainMs: 5000,
  clock: monotonicClock,
});
const signal = new AbortController().signal;
const poll = setInterval(() => {
  void (async () => {
    const state = await monitor.query(signal).catch(() => undefined);
    await monitor.sync([topic], state, signal);
    if (monitor.sample(topic, 0).lastMessageAtMs !== undefined) {
      clearInterval(poll);
      console.log("ready");
    }
  })();
}, 100);
if (flag !== "--no-handler") {
  const stop = (sig: string): void => {
    clearInterval(poll);
    void monitor.close().then(() => console.log(`closed on ${sig}`));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
