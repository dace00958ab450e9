// A TCP proxy that delays every chunk by a fixed time in each direction: a long-RTT link in user
// space (this host's kernel has no netem). Throughput is otherwise unbounded, except that at most
// `maxQueuedBytes` wait per direction (the sender is paused beyond it), like a TCP window.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface DelayProxyOptions {
  target: { host: string; port: number };
  /** Added to every chunk in each direction (the round trip gains twice this). */
  delayMs: number;
  /** Default 127.0.0.1. */
  listenHost?: string;
  /** Default 64 MiB. */
  maxQueuedBytes?: number;
}

export interface DelayProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** Forwards `from` to `to`, each chunk (and the end) `delayMs` after it arrived, in order. */
export function delayed(from: Socket, to: Socket, delayMs: number, maxQueuedBytes: number): void {
  const queue: { at: number; chunk: Buffer | null }[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let waitingForDrain = false;
  const flush = (): void => {
    timer = undefined;
    if (to.destroyed) {
      queue.length = 0;
      return;
    }
    const now = performance.now();
    while (!waitingForDrain && queue.length > 0 && (queue[0]?.at ?? 0) <= now) {
      const { chunk } = queue.shift() as { at: number; chunk: Buffer | null };
      if (chunk === null) {
        to.end();
        return;
      }
      queued -= chunk.length;
      if (!to.write(chunk)) {
        waitingForDrain = true;
        to.once("drain", () => {
          waitingForDrain = false;
          flush();
        });
      }
    }
    if (queued <= maxQueuedBytes && from.isPaused()) from.resume();
    const head = queue[0];
    if (head !== undefined && !waitingForDrain) timer = setTimeout(flush, Math.max(0, head.at - now));
  };
  const push = (chunk: Buffer | null): void => {
    queue.push({ at: performance.now() + delayMs, chunk });
    if (chunk !== null) queued += chunk.length;
    if (queued > maxQueuedBytes) from.pause();
    if (timer === undefined && !waitingForDrain) timer = setTimeout(flush, delayMs);
  };
  from.on("data", (chunk: Buffer) => push(chunk));
  from.on("end", () => push(null));
}

function pair(client: Socket, opts: DelayProxyOptions): void {
  // Half-open allowed on both: a FIN travels (delayed) like data instead of closing our side at once.
  const upstream = connect({ ...opts.target, allowHalfOpen: true });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const max = opts.maxQueuedBytes ?? 64 * 2 ** 20;
  // A reset on either side resets the other; a clean end is forwarded (delayed) as a half-close.
  const kill = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", kill);
  upstream.on("error", kill);
  client.on("close", (hadError) => hadError && kill());
  upstream.on("close", (hadError) => hadError && kill());
  delayed(client, upstream, opts.delayMs, max);
  delayed(upstream, client, opts.delayMs, max);
}

export function startDelayProxy(opts: DelayProxyOptions): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    pair(client, opts);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, opts.listenHost ?? "127.0.0.1", () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") {
        reject(new Error("delay proxy: no TCP address"));
        return;
      }
      resolve({
        port: addr.port,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
