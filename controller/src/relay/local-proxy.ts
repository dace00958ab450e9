import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";

export interface LocalProxy {
  /** 127.0.0.1:port: where gRPC connects, unchanged (the raw push takes the relay's stream itself). */
  readonly address: string;
  /** Why the last stream could not be opened (for the connect error), if one failed. */
  lastError(): Error | undefined;
  close(): void;
}

/**
 * A loopback port whose every connection is joined to a fresh stream from
 * `open` (a relay dial): grpc-js connects to it as to any agent, and its TLS
 * runs end to end through it. Only ciphertext
 * crosses it; whoever connects still needs a certificate the agent accepts.
 */
export async function startLocalProxy(open: () => Promise<Duplex>): Promise<LocalProxy> {
  let last: Error | undefined;
  const sockets = new Set<Socket>();
  const server = createServer((local) => {
    sockets.add(local);
    local.once("close", () => sockets.delete(local));
    local.on("error", () => undefined);
    local.pause();
    open().then(
      (remote) => {
        if (local.destroyed) {
          remote.destroy();
          return;
        }
        const end = () => {
          local.destroy();
          remote.destroy();
        };
        remote.on("error", end);
        remote.on("close", end);
        local.on("close", end);
        local.pipe(remote);
        remote.pipe(local);
      },
      (e: unknown) => {
        last = e instanceof Error ? e : new Error(String(e));
        local.destroy();
      },
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  server.unref();
  const a = server.address();
  const port = typeof a === "object" && a !== null ? a.port : 0;
  return {
    address: `127.0.0.1:${port}`,
    lastError: () => last,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
