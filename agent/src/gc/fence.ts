/** How often a stop that has not ended the collection yet is asked again. */
const STOP_AGAIN_MS = 1_000;

export interface FencedRun<T> {
  readonly result: Promise<T>;
  /** Stops the run and resolves once it ended (its process gone). */
  readonly stop: () => Promise<void>;
  /** True once someone asked it to stop: its failure is then no failure. */
  readonly stopped: () => boolean;
}

/**
 * Orders the taking of GC roots against Nix's GC run by the collector. A `nix-store --gc` reads
 * the roots once, when it starts: a root made while it runs does not keep a path that was dead
 * before, so a query could say "present" of a path that is deleted right after. Whoever takes
 * roots first stops a running collection and waits until its process is gone, and no collection
 * starts while roots are being taken.
 */
export class RootFence {
  private taking = 0;
  private running: { readonly stop: () => Promise<void> } | undefined;

  /** Runs `work` (which makes roots) with no collection running, and none starting until it ended. */
  async takingRoots<T>(work: () => Promise<T>): Promise<T> {
    this.taking++;
    try {
      await this.running?.stop();
      return await work();
    } finally {
      this.taking--;
    }
  }

  /** Stops a running collection (a push goes first); resolves at once when none runs. */
  async stopCollection(): Promise<void> {
    await this.running?.stop();
  }

  /** Starts a collection unless roots are being taken (undefined then). */
  collect<T>(start: () => Promise<T>, stop: () => Promise<void>): FencedRun<T> | undefined {
    if (this.taking > 0) return undefined;
    const result = start();
    const ended = result.then(
      () => undefined,
      () => undefined,
    );
    let stopping: Promise<void> | undefined;
    const entry = { stop: () => (stopping ??= stopUntilEnded(stop, ended)) };
    this.running = entry;
    ended.then(
      () => {
        if (this.running === entry) this.running = undefined;
      },
      () => undefined,
    );
    return { result, stop: entry.stop, stopped: () => stopping !== undefined };
  }
}

/** A stop asked before the run's unit exists stops nothing: asked again until the run ended. */
async function stopUntilEnded(stop: () => Promise<void>, ended: Promise<void>): Promise<void> {
  let over = false;
  const done = ended.then(() => {
    over = true;
  });
  while (!over) {
    await stop().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, STOP_AGAIN_MS)))]);
    clearTimeout(timer);
  }
}
