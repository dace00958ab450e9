import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A real HTTP server on loopback that logs every request it gets (method and path). */
export interface RecordingServer {
  /** `http://127.0.0.1:<port>`: its own origin. */
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function recordingServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<RecordingServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handle(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
