import { AgentError } from "../../errors.js";
import { describeError } from "../checks/types.js";
import type { Clock } from "../clock.js";
import type { GraphState, RosGraph, TopicMonitor, TopicSample } from "./graph.js";
import { firstString, startsWithString } from "./leading-string.js";
import { type PublisherHeader, probePublisher } from "./tcpros.js";
import { rosApiCall, type XmlRpcValue } from "./xmlrpc.js";

/*
 * rosnodejs 3.1.0, seen through the narrow types below (its own .d.ts are
 * approximate). It is one node per process: initNode/shutdown/reset act on a
 * module-level singleton, so at most one RosnodejsMonitor may be open.
 */

/** A message "class" built from what the publisher told us; rosnodejs needs no .msg files for it. */
interface MessageClass {
  datatype(): string;
  md5sum(): string;
  messageDefinition(): string;
  /** Messages are counted; only a leading string field is ever decoded (for hold conditions). */
  deserialize(buffer: Buffer): string | undefined;
}

interface RnjSubscriber {
  getNumPublishers(): number;
  on(event: "error", listener: (err: unknown) => void): unknown;
}

interface RnjNodeHandle {
  subscribe(
    topic: string,
    type: MessageClass,
    callback: (msg: string | undefined) => void,
    options: { queueSize: number; throttleMs: number },
  ): RnjSubscriber;
  unsubscribe(topic: string): Promise<unknown> | undefined;
}

interface RnjLogRecord {
  readonly level?: number;
  readonly msg?: string;
  readonly name?: string;
}

interface Rosnodejs {
  initNode(
    name: string,
    options: {
      rosMasterUri: string;
      onTheFly: boolean;
      notime: boolean;
      timeout: number;
      logging: {
        skipRosLogging: boolean;
        overrideLoggerCleanup: boolean;
        streams: { type: "raw"; level: string; stream: { write(rec: RnjLogRecord): void } }[];
      };
      node: { forceExit: boolean };
    },
  ): Promise<RnjNodeHandle>;
  shutdown(): Promise<unknown>;
  reset(): void;
  ok(): boolean | null;
  readonly log: { clearStreams(): void };
}

/** Where rosnodejs' warnings and errors go (a pino logger fits). */
export interface MonitorLog {
  warn(obj: object, msg: string): void;
}

export interface RosnodejsMonitorOptions {
  readonly masterUri: string;
  /** Our node's name, e.g. `/ros_rollback_health`. */
  readonly nodeName: string;
  /** Address our node advertises to publishers (what ROS_IP would say). */
  readonly advertiseIp: string;
  /** Bound for each master or publisher call, and for starting the node. */
  readonly masterTimeoutMs: number;
  /** How long message arrival times are kept (the longest rate window asked for). */
  readonly retainMs: number;
  readonly clock: Clock;
  readonly log?: MonitorLog;
}

interface Watched {
  readonly name: string;
  readonly watchingSinceMs: number;
  /** Arrival times, oldest first, trimmed to `retainMs`. */
  arrivals: number[];
  lastMessageAtMs: number | undefined;
  subscriber: RnjSubscriber | undefined;
  header: PublisherHeader | undefined;
  problem: string | undefined;
  /** The latest message's first field, when the type starts with a string (std_msgs/String's `data`). */
  lastString: string | undefined;
}

interface RunningNode {
  readonly nh: RnjNodeHandle;
  readonly runId: string;
}

let openMonitors = 0;
const MAX_ARRIVALS = 100_000;

/**
 * Topic liveness over a real ROS 1 graph. Master queries use our own bounded
 * XML-RPC calls; rosnodejs carries the subscriptions. The type of a topic is
 * learned from a publisher's TCPROS header (we connect with md5sum `*`), so
 * ANY message type works and nothing from ROS is installed on the agent's side.
 */
export class RosnodejsMonitor implements RosGraph, TopicMonitor {
  private readonly topics = new Map<string, Watched>();
  private node: RunningNode | undefined;
  private rosnodejs: Rosnodejs | undefined;
  private closed = false;
  /** Syncs run one after another: a snapshot and an evaluation may ask together. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly o: RosnodejsMonitorOptions) {
    if (openMonitors > 0) throw new AgentError("FAILED_PRECONDITION", "a RosnodejsMonitor is already open");
    openMonitors += 1;
  }

  private get callerId(): string {
    return this.o.nodeName;
  }

  private call(
    url: string,
    method: string,
    params: XmlRpcValue[],
    signal: AbortSignal,
  ): Promise<XmlRpcValue> {
    return rosApiCall(url, method, params, { timeoutMs: this.o.masterTimeoutMs, signal });
  }

  async query(signal: AbortSignal): Promise<GraphState> {
    const master = this.o.masterUri;
    const [system, types, runId] = await Promise.all([
      this.call(master, "getSystemState", [this.callerId], signal),
      this.call(master, "getTopicTypes", [this.callerId], signal),
      // roscore sets /run_id; a bare rosmaster does not, and then restarts go unseen.
      this.call(master, "getParam", [this.callerId, "/run_id"], signal).catch((e: unknown) => {
        if (e instanceof AgentError && e.code === "EXTERNAL_COMMAND_FAILED" && /code -1/.test(e.message))
          return "";
        throw e;
      }),
    ]);
    return parseGraphState(system, types, String(runId));
  }

  async sync(topics: readonly string[], state: GraphState | undefined, signal: AbortSignal): Promise<void> {
    const now = this.o.clock.now();
    for (const name of topics) {
      if (!this.topics.has(name))
        this.topics.set(name, {
          name,
          watchingSinceMs: now,
          arrivals: [],
          lastMessageAtMs: undefined,
          subscriber: undefined,
          header: undefined,
          problem: undefined,
          lastString: undefined,
        });
    }
    if (state === undefined || this.closed) return;
    const run = this.queue.then(() => (this.closed ? undefined : this.syncLocked(topics, state, signal)));
    this.queue = run.catch(() => {});
    await run;
  }

  private async syncLocked(topics: readonly string[], state: GraphState, signal: AbortSignal): Promise<void> {
    const rnj = this.rosnodejs;
    if (
      this.node !== undefined &&
      (this.node.runId !== state.runId || rnj === undefined || rnj.ok() !== true)
    ) {
      // A restarted master forgot our registrations (nothing re-registers by itself): start over.
      await this.stopNode();
    }
    if (this.node === undefined) {
      try {
        this.node = { nh: await this.startNode(signal), runId: state.runId };
      } catch (e) {
        for (const name of topics) {
          const w = this.topics.get(name);
          if (w !== undefined) w.problem = `cannot start the ROS node: ${describeError(e)}`;
        }
        return;
      }
    }
    const node = this.node;
    await Promise.all(
      topics.map((name) => {
        const w = this.topics.get(name);
        return w === undefined ? undefined : this.syncTopic(node, w, state, signal);
      }),
    );
  }

  private async syncTopic(
    node: RunningNode,
    w: Watched,
    state: GraphState,
    signal: AbortSignal,
  ): Promise<void> {
    // Known type (from before a master restart): register again at once, so that rosnodejs
    // hears from the master about publishers as they (re)appear.
    if (w.subscriber === undefined && w.header !== undefined) this.subscribe(node, w, w.header);
    const publishers = state.publishers.get(w.name) ?? [];
    if (publishers.length === 0) {
      w.problem = "no publisher registered with the ROS master";
      return;
    }
    const connected = w.subscriber?.getNumPublishers() ?? 0;
    if (w.subscriber !== undefined && connected >= publishers.length) {
      w.problem = undefined;
      return;
    }
    // A registered publisher is not connected: it is unreachable, new, or of another type than we subscribed with.
    const failures: string[] = [];
    let header: PublisherHeader | undefined;
    for (const pub of publishers) {
      try {
        header = await this.learnHeader(pub, w.name, signal);
        break;
      } catch (e) {
        if (signal.aborted) throw e;
        failures.push(`publisher ${pub}: ${describeError(e)}`);
      }
    }
    if (header !== undefined && (w.subscriber === undefined || header.md5sum !== w.header?.md5sum)) {
      if (w.subscriber !== undefined) await this.unsubscribe(node, w);
      this.subscribe(node, w, header);
    }
    w.problem = failures.length === 0 ? undefined : failures.join("; ");
  }

  /** Master → publisher's XML-RPC URI → its TCPROS port → its connection header. */
  private async learnHeader(publisher: string, topic: string, signal: AbortSignal): Promise<PublisherHeader> {
    const uri = String(await this.call(this.o.masterUri, "lookupNode", [this.callerId, publisher], signal));
    const proto = await this.call(uri, "requestTopic", [this.callerId, topic, [["TCPROS"]]], signal);
    if (
      !Array.isArray(proto) ||
      proto[0] !== "TCPROS" ||
      typeof proto[1] !== "string" ||
      typeof proto[2] !== "number"
    )
      throw new AgentError(
        "EXTERNAL_COMMAND_FAILED",
        `${publisher} offers no TCPROS connection for ${topic}`,
      );
    // A caller id of its own: rospy drops an older connection from the same caller id,
    // which would be our subscriber's.
    return probePublisher(
      proto[1],
      proto[2],
      { callerId: `${this.callerId}_type_probe`, topic },
      { timeoutMs: this.o.masterTimeoutMs, signal },
    );
  }

  private subscribe(node: RunningNode, w: Watched, header: PublisherHeader): void {
    const type: MessageClass = {
      datatype: () => header.type,
      md5sum: () => header.md5sum,
      messageDefinition: () => header.messageDefinition,
      deserialize: startsWithString(header.messageDefinition) ? firstString : () => undefined,
    };
    // throttleMs -1: no spinner queue, so no message is dropped from the count.
    const sub = node.nh.subscribe(w.name, type, (msg) => this.arrived(w, msg), {
      queueSize: 1,
      throttleMs: -1,
    });
    sub.on("error", (err) => this.o.log?.warn({ err, topic: w.name }, "rosnodejs subscriber error"));
    w.subscriber = sub;
    w.header = header;
  }

  private async unsubscribe(node: RunningNode, w: Watched): Promise<void> {
    w.subscriber = undefined;
    // Unregistering goes through rosnodejs' master queue: do not wait for it long.
    await this.bound(Promise.resolve(node.nh.unsubscribe(w.name)), this.o.masterTimeoutMs).catch(() => {});
  }

  private arrived(w: Watched, msg: string | undefined): void {
    const now = this.o.clock.now();
    w.lastMessageAtMs = now;
    w.lastString = msg;
    w.arrivals.push(now);
    const keepFrom = now - this.o.retainMs;
    if (w.arrivals.length > MAX_ARRIVALS || (w.arrivals[0] ?? now) < keepFrom) {
      const first = w.arrivals.findIndex((t) => t >= keepFrom);
      w.arrivals = w.arrivals.slice(Math.max(first, w.arrivals.length - MAX_ARRIVALS));
    }
  }

  sample(topic: string, windowStartMs: number): TopicSample {
    const w = this.topics.get(topic);
    if (w === undefined)
      return {
        watchingSinceMs: undefined,
        lastMessageAtMs: undefined,
        messagesInWindow: 0,
        connectedPublishers: 0,
        type: undefined,
        problem: undefined,
      };
    let n = 0;
    for (let i = w.arrivals.length - 1; i >= 0 && (w.arrivals[i] ?? 0) >= windowStartMs; i--) n++;
    return {
      watchingSinceMs: w.watchingSinceMs,
      lastMessageAtMs: w.lastMessageAtMs,
      messagesInWindow: n,
      connectedPublishers: w.subscriber?.getNumPublishers() ?? 0,
      type: w.header?.type,
      problem: w.problem,
    };
  }

  /** The latest message's leading string field (undefined: none yet, or the type does not start with a string). */
  lastString(topic: string): string | undefined {
    return this.topics.get(topic)?.lastString;
  }

  private async load(): Promise<Rosnodejs> {
    if (this.rosnodejs !== undefined) return this.rosnodejs;
    // rosnodejs refuses to load without CMAKE_PREFIX_PATH, although we never let it look for messages there.
    const saved = process.env.CMAKE_PREFIX_PATH;
    if (!saved) process.env.CMAKE_PREFIX_PATH = "/nonexistent/ros-rollback";
    try {
      const mod: { default: unknown } = await import("rosnodejs");
      this.rosnodejs = mod.default as Rosnodejs;
    } finally {
      if (!saved) delete process.env.CMAKE_PREFIX_PATH;
    }
    return this.rosnodejs;
  }

  private async startNode(signal: AbortSignal): Promise<RnjNodeHandle> {
    const rnj = await this.load();
    signal.throwIfAborted();
    rnj.reset();
    const sigint = new Set(process.listeners("SIGINT"));
    const savedIp = process.env.ROS_IP;
    process.env.ROS_IP = this.o.advertiseIp;
    let init: Promise<RnjNodeHandle>;
    try {
      rnj.log.clearStreams();
      init = rnj.initNode(this.o.nodeName, {
        rosMasterUri: this.o.masterUri,
        onTheFly: false,
        notime: true,
        timeout: this.o.masterTimeoutMs,
        logging: {
          skipRosLogging: true,
          overrideLoggerCleanup: true,
          streams: [{ type: "raw", level: "warn", stream: { write: (rec) => this.rosLog(rec) } }],
        },
        node: { forceExit: false },
      });
    } finally {
      // rosnodejs reads ROS_IP synchronously in initNode, and takes SIGINT for itself: the agent
      // handles signals (and calls close()), so rosnodejs' handler must not swallow them.
      if (savedIp === undefined) delete process.env.ROS_IP;
      else process.env.ROS_IP = savedIp;
      for (const l of process.listeners("SIGINT")) if (!sigint.has(l)) process.removeListener("SIGINT", l);
    }
    try {
      return await this.bound(init, this.o.masterTimeoutMs + 500, signal);
    } catch (e) {
      await this.bound(rnj.shutdown(), 1000).catch(() => {});
      rnj.reset();
      throw e;
    }
  }

  private rosLog(rec: RnjLogRecord): void {
    this.o.log?.warn({ ros: rec.name }, `rosnodejs: ${rec.msg ?? ""}`);
  }

  private async stopNode(): Promise<void> {
    const rnj = this.rosnodejs;
    this.node = undefined;
    // The learned types are kept: the next node subscribes with them right away.
    for (const w of this.topics.values()) w.subscriber = undefined;
    if (rnj === undefined) return;
    // Unregistering is one attempt per registration in rosnodejs; a hung master must not hang us.
    await this.bound(rnj.shutdown(), 2000).catch(() => {});
    rnj.reset();
  }

  /** Unsubscribes, unregisters and stops the node, within ~2 s; later calls do nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openMonitors -= 1;
    await this.queue;
    await this.stopNode();
  }

  private bound<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new AgentError("ABORTED", "aborted", { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        reject(new AgentError("TIMEOUT", `no answer within ${ms / 1000} s`));
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
      p.then(
        (v) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }
}

/** getSystemState: [[topic, [publisher…]]…], [[topic, [subscriber…]]…], [[service, [provider…]]…]. */
export function parseGraphState(system: XmlRpcValue, types: XmlRpcValue, runId: string): GraphState {
  const lists = Array.isArray(system) ? system : [];
  const entries = (v: XmlRpcValue | undefined): [string, string[]][] =>
    (Array.isArray(v) ? v : []).flatMap((e) =>
      Array.isArray(e) && typeof e[0] === "string" && Array.isArray(e[1])
        ? [[e[0], e[1].filter((n): n is string => typeof n === "string")] as [string, string[]]]
        : [],
    );
  const publishers = new Map(entries(lists[0]));
  const nodes = new Set<string>();
  for (const list of lists) for (const [, ns] of entries(list)) for (const n of ns) nodes.add(n);
  const topicTypes = new Map<string, string>();
  for (const e of Array.isArray(types) ? types : [])
    if (Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string") topicTypes.set(e[0], e[1]);
  return { runId, publishers, topicTypes, nodes };
}
