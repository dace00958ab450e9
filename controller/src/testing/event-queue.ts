import type { DeploymentEvent } from "@ros-rollback/proto";
import type { StreamStep } from "./fake-agent.js";

/** The events for one stream, as an async iterable of StreamSteps. */
export class EventQueue implements AsyncIterable<StreamStep> {
  private readonly items: DeploymentEvent[] = [];
  private ended = false;
  private waiting: (() => void) | undefined;

  constructor(private readonly onClose: () => void) {}

  push(e: DeploymentEvent): void {
    this.items.push(e);
    this.waiting?.();
  }

  end(): void {
    this.ended = true;
    this.waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StreamStep> {
    try {
      for (;;) {
        const next = this.items.shift();
        if (next !== undefined) {
          yield { event: next };
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.waiting = resolve;
        });
        this.waiting = undefined;
      }
    } finally {
      this.onClose();
    }
  }
}
