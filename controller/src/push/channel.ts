/**
 * A bounded FIFO between producers and one consumer: push() waits while it
 * is full, so producers run at the consumer's (the network's) pace.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly pushers: (() => void)[] = [];
  private puller: (() => void) | undefined;
  private done = false;
  private error: { e: unknown } | undefined;

  constructor(private readonly capacity: number) {}

  async push(item: T, signal: AbortSignal): Promise<void> {
    while (this.items.length >= this.capacity) {
      signal.throwIfAborted();
      if (this.done) throw new Error("push to a closed channel");
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.pushers.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    signal.throwIfAborted();
    this.items.push(item);
    this.wakePuller();
  }

  close(): void {
    this.done = true;
    this.wakePuller();
  }

  fail(e: unknown): void {
    this.error ??= { e };
    this.close();
  }

  private wakePuller(): void {
    const p = this.puller;
    this.puller = undefined;
    p?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.error !== undefined) throw this.error.e;
      const item = this.items.shift();
      if (item !== undefined) {
        this.pushers.shift()?.();
        yield item;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => {
        this.puller = resolve;
      });
    }
  }
}

/**
 * Groups small buffers into runs of about `size` bytes (fewer, fuller gRPC
 * messages; joined by their encoder).
 */
export async function* gather(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer[]> {
  let parts: Buffer[] = [];
  let bytes = 0;
  for await (const b of source) {
    parts.push(b);
    bytes += b.length;
    if (bytes >= size) {
      yield parts;
      parts = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield parts;
}
