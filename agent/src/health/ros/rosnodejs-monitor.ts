import { AgentError } from "../../errors.js";
import { describeError } from "../checks/types.js";
import type { Clock } from "../clock.js";
import { Arrivals } from "./arrivals.js";
import type { GraphState, RosGraph, TopicMonitor, TopicSample } from "./graph.js";
import { learnHeader, queryGraph } from "./graph-query.js";
import { firstString, startsWithString } from "./leading-string.js";
import {
  bound,
  type MessageClass,
  type MonitorLog,
  type RnjNodeHandle,
  type RnjSubscriber,
  RosNode,
} from "./rosnodejs-node.js";
import type { PublisherHeader } from "./tcpros.js";

export type { MonitorLog } from "./rosnodejs-node.js";

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
  /**
   * How long rosnodejs may stay connected to no publisher while one answers with our type
   * before we subscribe again (then twice as long each time, up to a minute). Default 5 s.
   */
  readonly resubscribeAfterMs?: number;
}

interface Watched {
  readonly name: string;
  readonly watchingSinceMs: number;
  readonly arrivals: Arrivals;
  lastMessageAtMs: number | undefined;
  subscriber: RnjSubscriber | undefined;
  header: PublisherHeader | undefined;
  problem: string | undefined;
  /** Since when rosnodejs holds no connection though a publisher answers with our type. */
  lostSinceMs: number | undefined;
  /** The latest message's first field, when the type starts with a string (std_msgs/String's `data`). */
  lastString: string | undefined;
  resubscribeWaitMs: number;
}

interface RunningNode {
  readonly nh: RnjNodeHandle;
  readonly runId: string;
}

let openMonitors = 0;
const MAX_ARRIVALS = 100_000;
const MAX_RESUBSCRIBE_WAIT_MS = 60_000;

/**
 * Topic liveness over a real ROS 1 graph. Master queries use our own bounded
 * XML-RPC calls; rosnodejs carries the subscriptions. The type of a topic is
 * learned from a publisher's TCPROS header (we connect with md5sum `*`), so
 * ANY message type works and nothing from ROS is installed on the agent's side.
 */
export class RosnodejsMonitor implements RosGraph, TopicMonitor {
  private readonly topics = new Map<string, Watched>();
  private node: RunningNode | undefined;
  private readonly rosNode: RosNode;
  private closed = false;
  /** Syncs run one after another: a snapshot and an evaluation may ask together. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly o: RosnodejsMonitorOptions) {
    if (openMonitors > 0) throw new AgentError("FAILED_PRECONDITION", "a RosnodejsMonitor is already open");
    openMonitors += 1;
    this.rosNode = new RosNode(o);
  }

  private get callerId(): string {
    return this.o.nodeName;
  }

  query(signal: AbortSignal): Promise<GraphState> {
    return queryGraph(this.o.masterUri, this.callerId, this.o.masterTimeoutMs, signal);
  }

  async sync(topics: readonly string[], state: GraphState | undefined, signal: AbortSignal): Promise<void> {
    const now = this.o.clock.now();
    for (const name of topics) {
      if (!this.topics.has(name))
        this.topics.set(name, {
          name,
          watchingSinceMs: now,
          arrivals: new Arrivals(this.o.retainMs, MAX_ARRIVALS),
          lastMessageAtMs: undefined,
          subscriber: undefined,
          header: undefined,
          problem: undefined,
          lostSinceMs: undefined,
          resubscribeWaitMs: this.resubscribeAfterMs,
          lastString: undefined,
        });
    }
    if (state === undefined || this.closed) return;
    const run = this.queue.then(() => (this.closed ? undefined : this.syncLocked(topics, state, signal)));
    this.queue = run.catch(() => {});
    await run;
  }

  private async syncLocked(topics: readonly string[], state: GraphState, signal: AbortSignal): Promise<void> {
    if (this.node !== undefined && (this.node.runId !== state.runId || !this.rosNode.ok())) {
      // A restarted master forgot our registrations (nothing re-registers by itself): start over.
      await this.stopNode();
    }
    if (this.node === undefined) {
      try {
        this.node = { nh: await this.rosNode.start(signal), runId: state.runId };
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
      w.lostSinceMs = undefined;
      w.resubscribeWaitMs = this.resubscribeAfterMs;
      return;
    }
    // A registered publisher is not connected: it is unreachable, new, or of another type than we subscribed with.
    const failures: string[] = [];
    let header: PublisherHeader | undefined;
    for (const pub of publishers) {
      try {
        header = await learnHeader(
          { masterUri: this.o.masterUri, callerId: this.callerId, timeoutMs: this.o.masterTimeoutMs },
          pub,
          w.name,
          signal,
        );
        break;
      } catch (e) {
        if (signal.aborted) throw e;
        failures.push(`publisher ${pub}: ${describeError(e)}`);
      }
    }
    const changed = w.subscriber === undefined || header?.md5sum !== w.header?.md5sum;
    if (header !== undefined && (changed || this.lostTooLong(w, connected))) {
      if (w.subscriber !== undefined) await this.unsubscribe(node, w);
      this.subscribe(node, w, header);
    }
    w.problem = failures.length === 0 ? undefined : failures.join("; ");
  }

  /**
   * rosnodejs connects to publishers only when the master tells it about them, so a
   * connection it lost (a bug of its own, or a publisher that dropped ours) stays lost
   * while the topic is alive: a good deployment would be judged silent. Subscribing again
   * makes it ask the master. Only with no connection at all, to leave healthy topics alone.
   */
  private lostTooLong(w: Watched, connected: number): boolean {
    const now = this.o.clock.now();
    if (connected > 0) {
      w.lostSinceMs = undefined;
      return false;
    }
    w.lostSinceMs ??= now;
    if (now - w.lostSinceMs < w.resubscribeWaitMs) return false;
    this.o.log?.warn(
      { topic: w.name, lostForMs: Math.round(now - w.lostSinceMs) },
      "rosnodejs holds no connection to a publisher that answers: subscribing again",
    );
    w.resubscribeWaitMs = Math.min(w.resubscribeWaitMs * 2, MAX_RESUBSCRIBE_WAIT_MS);
    return true;
  }

  private get resubscribeAfterMs(): number {
    return this.o.resubscribeAfterMs ?? 5000;
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
    // A new subscriber gets the whole wait to connect.
    w.lostSinceMs = undefined;
  }

  private async unsubscribe(node: RunningNode, w: Watched): Promise<void> {
    w.subscriber = undefined;
    // Unregistering goes through rosnodejs' master queue: do not wait for it long.
    await bound(Promise.resolve(node.nh.unsubscribe(w.name)), this.o.masterTimeoutMs).catch(() => {});
  }

  private arrived(w: Watched, msg: string | undefined): void {
    const now = this.o.clock.now();
    w.lastMessageAtMs = now;
    w.lastString = msg;
    w.arrivals.add(now);
  }

  /** The latest message's leading string field (undefined: none yet, or the type does not start with a string). */
  lastString(topic: string): string | undefined {
    return this.topics.get(topic)?.lastString;
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
    return {
      watchingSinceMs: w.watchingSinceMs,
      lastMessageAtMs: w.lastMessageAtMs,
      messagesInWindow: w.arrivals.countSince(windowStartMs),
      connectedPublishers: w.subscriber?.getNumPublishers() ?? 0,
      type: w.header?.type,
      problem: w.problem,
    };
  }

  private async stopNode(): Promise<void> {
    this.node = undefined;
    // The learned types are kept: the next node subscribes with them right away.
    for (const w of this.topics.values()) w.subscriber = undefined;
    await this.rosNode.stop();
  }

  /** Unsubscribes, unregisters and stops the node, within ~2 s; later calls do nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openMonitors -= 1;
    await this.queue;
    await this.stopNode();
  }
}
