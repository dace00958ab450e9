import { AgentError } from "../errors.js";

/**
 * At most `max` pushes at once: each runs two `nix-store --serve` and a
 * decompressor. And at most one per client (its certificate): one holder of a
 * controller certificate cannot take every slot (issue 24). One more is
 * refused at once with RESOURCE_EXHAUSTED (gRPC's code for a quota, per
 * client too: the same push may succeed once the other has ended; nothing is
 * wrong with it or with the robot's state, so not FAILED_PRECONDITION, and no
 * transaction conflicted, so not ABORTED).
 */
export class PushSlots {
  private running = 0;
  private readonly clients = new Set<string>();

  constructor(readonly max: number) {}

  /** `client`: who asks (its certificate's fingerprint); undefined (no TLS) counts only towards `max`. */
  async run<T>(client: string | undefined, push: () => Promise<T>): Promise<T> {
    if (client !== undefined && this.clients.has(client)) {
      throw new AgentError(
        "RESOURCE_EXHAUSTED",
        "a push or substitution by this client certificate is running already; one at a time per client",
      );
    }
    if (this.running >= this.max) {
      throw new AgentError(
        "RESOURCE_EXHAUSTED",
        `${this.running} pushes are running, the most this agent takes at once; retry when one has finished`,
      );
    }
    this.running++;
    if (client !== undefined) this.clients.add(client);
    try {
      return await push();
    } finally {
      this.running--;
      if (client !== undefined) this.clients.delete(client);
    }
  }
}
