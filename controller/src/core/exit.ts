/** A stream whose write callback fires once the bytes are handed to the OS (process.stdout, process.stderr). */
export interface FlushableStream {
  write(chunk: string, callback: (error?: Error | null) => void): boolean;
}

/**
 * Exits with `code` once everything written to `streams` so far is flushed. A command is over
 * when main() returns: waiting for Node to exit by itself also waited for handles nothing needs
 * any more (grpc-js channels and timers) and for the heap's teardown, ~0.03-0.1 s of every
 * deploy's wall time (issue 13, bench/README.md). An empty write's callback comes after the
 * writes queued before it; a failed stream (a closed pipe) calls back with its error, and the
 * process exits all the same.
 */
export function exitWhenFlushed(
  code: number,
  streams: readonly FlushableStream[],
  exit: (code: number) => void,
): void {
  let pending = streams.length;
  if (pending === 0) {
    exit(code);
    return;
  }
  const flushed = () => {
    pending -= 1;
    if (pending === 0) exit(code);
  };
  for (const stream of streams) stream.write("", flushed);
}
