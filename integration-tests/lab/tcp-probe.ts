// One TCP connection attempt from the host: the lab's "ping" (the host has no ping).
import { connect } from "node:net";

export type Probe = "open" | "refused" | "unreachable";

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (result: Probe): void => {
      socket.destroy();
      resolve(result);
    };
    socket.once("connect", () => done("open"));
    socket.once("error", (e: NodeJS.ErrnoException) =>
      done(e.code === "ECONNREFUSED" ? "refused" : "unreachable"),
    );
    socket.once("timeout", () => done("unreachable"));
  });
}
