/**
 * The two seams between the health evaluator and ROS. The real
 * implementation (`RosnodejsMonitor`) talks to a ROS 1 master and
 * publishers; tests of the evaluator pass fakes.
 */

/** What the master knows, from one round trip. */
export interface GraphState {
  /** The master's `/run_id` parameter: a new value means the master restarted. */
  readonly runId: string;
  /** Topic → names of the nodes registered as its publishers. */
  readonly publishers: ReadonlyMap<string, readonly string[]>;
  /** Topic → message type as registered with the master. */
  readonly topicTypes: ReadonlyMap<string, string>;
  /** Every node registered with the master as publisher, subscriber or service provider. */
  readonly nodes: ReadonlySet<string>;
}

export interface RosGraph {
  /** One query of the master, bounded by its own timeout; rejects when the master does not answer. */
  query(signal: AbortSignal): Promise<GraphState>;
}

/** What the monitor has seen on one topic, judged by the evaluator against its clock. */
export interface TopicSample {
  /** When the monitor was first asked to watch the topic; undefined when it never was. */
  readonly watchingSinceMs: number | undefined;
  readonly lastMessageAtMs: number | undefined;
  /** Messages that arrived at or after the `windowStartMs` passed to `sample`. */
  readonly messagesInWindow: number;
  /** Publishers with an open connection to our subscriber. */
  readonly connectedPublishers: number;
  /** The message type learned from a publisher; undefined until subscribed. */
  readonly type: string | undefined;
  /** Why the topic is not (fully) subscribed, e.g. no publisher or a publisher that does not answer. */
  readonly problem: string | undefined;
}

export interface TopicMonitor {
  /**
   * Subscribes to each topic not yet subscribed, learning its type from a
   * publisher; resubscribes after a master restart or a type change. With
   * `state` undefined (master unreachable) it only starts the watch clock and
   * keeps existing subscriptions: connected publishers keep sending.
   * Bounded; problems end up in `sample().problem`, not in a rejection.
   */
  sync(topics: readonly string[], state: GraphState | undefined, signal: AbortSignal): Promise<void>;
  sample(topic: string, windowStartMs: number): TopicSample;
  /** Unsubscribes, unregisters from the master and stops the node; bounded; idempotent. */
  close(): Promise<void>;
}
