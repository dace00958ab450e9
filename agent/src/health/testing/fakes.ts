import type { CommandResult, CommandRunner, RunOptions } from "../../system/command.js";
import type { GraphState, RosGraph, TopicMonitor, TopicSample } from "../ros/graph.js";

type Handler = (
  argv: readonly string[],
  options: RunOptions | undefined,
) => Promise<CommandResult> | CommandResult;

/** Answers only the commands it was taught (by argv[0] argv[1]); any other call throws. */
export class FakeRunner implements CommandRunner {
  readonly calls: (readonly string[])[] = [];
  private readonly handlers = new Map<string, Handler>();

  on(command: string, handler: Handler): this {
    this.handlers.set(command, handler);
    return this;
  }

  async run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.calls.push(argv);
    const key = argv.slice(0, 2).join(" ");
    const h = this.handlers.get(key) ?? this.handlers.get(argv[0] ?? "");
    if (h === undefined) throw new Error(`FakeRunner: unexpected command ${argv.join(" ")}`);
    return h(argv, options);
  }
}

export function ok(stdout: string): CommandResult {
  return { code: 0, stdout, stderr: "" };
}

/** `systemctl show` output for one unit, in the shape (and property order) systemd prints. */
export function showBlock(p: {
  id: string;
  load?: string;
  active?: string;
  sub?: string;
  result?: string;
  nRestarts?: number | undefined;
  mainPid?: number;
  enter?: number;
}): string {
  const lines = [
    `MainPID=${p.mainPid ?? 0}`,
    ...(p.nRestarts === undefined ? [] : [`NRestarts=${p.nRestarts}`]),
    `Result=${p.result ?? "success"}`,
    `Id=${p.id}`,
    `LoadState=${p.load ?? "loaded"}`,
    `ActiveState=${p.active ?? "active"}`,
    `SubState=${p.sub ?? "running"}`,
    `ActiveEnterTimestampMonotonic=${p.enter ?? 0}`,
  ];
  return `${lines.join("\n")}\n`;
}

/** A ROS graph and monitor whose state the test sets; throws on use when told the master is down. */
export class FakeRos implements RosGraph, TopicMonitor {
  state: GraphState | undefined = graph("run-1", {});
  /** Set to make query() never settle (a master that accepts but does not answer). */
  hang = false;
  /** Per topic: the sample for a window start (use `liveTopic` / `silentTopic`). */
  readonly samples = new Map<string, (windowStartMs: number) => TopicSample>();
  readonly synced: (readonly string[])[] = [];
  closed = 0;

  async query(signal: AbortSignal): Promise<GraphState> {
    if (this.hang) return new Promise<GraphState>(() => {});
    signal.throwIfAborted();
    if (this.state === undefined) throw new Error("connect ECONNREFUSED 127.0.0.1:11311");
    return this.state;
  }

  async sync(topics: readonly string[]): Promise<void> {
    this.synced.push(topics);
  }

  sample(topic: string, windowStartMs: number): TopicSample {
    const f = this.samples.get(topic);
    if (f !== undefined) return f(windowStartMs);
    return {
      watchingSinceMs: undefined,
      lastMessageAtMs: undefined,
      messagesInWindow: 0,
      connectedPublishers: 0,
      type: undefined,
      problem: undefined,
    };
  }

  async close(): Promise<void> {
    this.closed += 1;
  }
}

/** A topic receiving `hz` messages per second up to the clock's now, watched since `since`. */
export function liveTopic(clock: { now(): number }, hz: number, since: number, type = "std_msgs/String") {
  return (windowStartMs: number): TopicSample => {
    const now = clock.now();
    return {
      watchingSinceMs: since,
      lastMessageAtMs: now - Math.min(1000 / hz, now - since),
      messagesInWindow: Math.floor(((now - Math.max(windowStartMs, since)) / 1000) * hz),
      connectedPublishers: 1,
      type,
      problem: undefined,
    };
  };
}

export function graph(
  runId: string,
  publishers: Record<string, string[]>,
  extraNodes: string[] = [],
): GraphState {
  const nodes = new Set([...Object.values(publishers).flat(), ...extraNodes]);
  return { runId, publishers: new Map(Object.entries(publishers)), topicTypes: new Map(), nodes };
}
