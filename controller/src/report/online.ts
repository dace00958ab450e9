/** How long a robot offline at its wave waited, and when it came online (a rollout's `--wait-online`). */
export interface OnlineJson {
  /** From its wave until it was reached, or until the window closed. */
  readonly waitedSeconds: number;
  /** When the controller reached it (ISO 8601); null: not within the window. */
  readonly reachedAt: string | null;
}
