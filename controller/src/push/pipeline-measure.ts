// The measures link-probe.ts judges and agent-window.ts takes at the agent's end, apart so neither imports the other.

/** One window of a push, as the transport (or the agent) saw it. */
export interface PipelineMeasure {
  /** The transport waited this long for the next message (zstd's output, or the NAR source). */
  readonly waitedForSourceMs: number;
  /** Messages waited this long for the transport to take them. */
  readonly waitedForLinkMs: number;
  /** NarChunk bytes measured over (compressed, in the zstd phase). */
  readonly wireBytes: number;
  /** NAR bytes those chunks carried. */
  readonly narBytes: number;
  /** Wall time of the measured messages. */
  readonly ms: number;
  /** Cores idle on average from the push's first chunk to the end of the zstd phase (when the clock ticked). */
  readonly spareCores?: number;
  /** Bytes and time are the agent's (its PROGRESS reports), not the transport's. */
  readonly atAgent?: boolean;
  /** Of `ms`, how long the agent's import waited for the network. */
  readonly agentWaitedMs?: number;
}

/** What the agent has consumed of the push so far (totals). */
export interface AgentProgress {
  readonly wireBytes: number;
  readonly narBytes: number;
  /** Microseconds its import waited for the network. */
  readonly waitedUs: number;
}
