import { AgentError } from "../errors.js";

/**
 * At most `max` pushes at once: each runs two `nix-store --serve` and a
 * decompressor. One more is refused at once with RESOURCE_EXHAUSTED (gRPC's
 * code for a limit that frees up: the same push may succeed later; nothing is
 * wrong with it or with the robot's state, so not FAILED_PRECONDITION).
 */
export class PushSlots {
  private running = 0;

  constructor(readonly max: number) {}

  async run<T>(push: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) {
      throw new AgentError(
        "RESOURCE_EXHAUSTED",
        `${this.running} pushes are running, the most this agent takes at once; retry when one has finished`,
      );
    }
    this.running++;
    try {
      return await push();
    } finally {
      this.running--;
    }
  }
}
