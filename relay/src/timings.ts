export interface RelayTimings {
  /** A TLS handshake, and a controller's first stream after it, must come within this (slow clients are cut). */
  readonly handshakeMs: number;
  /** Each side of a control connection pings this often... */
  readonly pingMs: number;
  /** ...and ends it when nothing arrived for this long (half-open detection). */
  readonly idleMs: number;
  /** A robot asked to open a stream must do so within this. */
  readonly streamOpenMs: number;
}

export const DEFAULT_TIMINGS: RelayTimings = {
  handshakeMs: 10_000,
  pingMs: 10_000,
  idleMs: 25_000,
  streamOpenMs: 10_000,
};
