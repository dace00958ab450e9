import { createServer, type Server, type Socket } from "node:net";
import { HEADER_LINE_BYTE, TLS_HANDSHAKE_BYTE } from "@ros-rollback/proto/relay";

/**
 * One port, two protocols, so a robot's firewall opens one port: a
 * connection whose first byte starts a TLS handshake goes to `tls`, one that
 * starts a header line (a dedicated connection) to `onLine`. Any other first
 * byte, or none within `timeoutMs`, ends it (`onRefused` counts it).
 */
export function sniffingServer(
  tls: Server,
  onLine: (socket: Socket) => void,
  onRefused: () => void,
  timeoutMs: number,
): { server: Server; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // a peer's reset is its own
    const timer = setTimeout(() => {
      onRefused();
      socket.destroy();
    }, timeoutMs);
    socket.once("data", (first: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE_BYTE) tls.emit("connection", socket);
      else if (first[0] === HEADER_LINE_BYTE) onLine(socket);
      else {
        onRefused();
        socket.destroy();
      }
    });
    socket.once("close", () => clearTimeout(timer));
  });
  return { server, sockets };
}
