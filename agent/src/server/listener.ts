import { lookup } from "node:dns/promises";
import { once } from "node:events";
import { isIP, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createSecureContext, createServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import { type Server, ServerCredentials } from "@grpc/grpc-js";
import { RAW_PUSH_ALPNS } from "@ros-rollback/proto";
import { AgentError } from "../errors.js";

export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** PEM CRL(s) of the CA and any intermediate CAs: a revoked client certificate fails the handshake. */
  readonly crl?: Buffer | undefined;
  /** OpenSSL cipher list (GRPC_SSL_CIPHER_SUITES, which grpc-js's own listener honoured); default Node's. */
  readonly ciphers?: string | undefined;
}

export interface SharedListener {
  /** 0 when nothing listens (a robot reached only through relays). */
  readonly port: number;
  /**
   * A connection that arrived another way (a relay's stream): the same TLS
   * handshake and the same hand-off to gRPC or the raw push channel.
   */
  inject(stream: Duplex): void;
  /**
   * Stops accepting and cuts the raw connections (their pushes abort, as a
   * cancelled call's would); gRPC's are the grpc-js server's to end. Whatever
   * is still open after `graceMs` (a handshake that never completes) is cut.
   */
  close(graceMs: number): Promise<void>;
  /**
   * New CA, certificate, key and CRL for the handshakes from now on; open
   * connections keep theirs. Throws (and changes nothing) on material that
   * does not make a secure context.
   */
  reload(tls: TlsMaterial): void;
}

function secureOptions(tls: TlsMaterial) {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    ...(tls.crl === undefined ? {} : { crl: pemBlocks(tls.crl) }),
    ciphers: tls.ciphers,
  };
}

/**
 * Each PEM block of a file on its own: node reads only the first of a buffer, and it checks every
 * CA of a chain against a CRL (an intermediate's certificates fail without the intermediate's
 * CRL), so a crlFile holding the root's and the intermediates' CRLs must reach it as a list.
 */
export function pemBlocks(pem: Buffer): Buffer[] {
  const blocks = pem.toString("latin1").match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) ?? [];
  // No block: as it was, for createSecureContext to refuse with its own message.
  return blocks.length === 0 ? [pem] : blocks.map((b) => Buffer.from(`${b}\n`, "latin1"));
}

/** "host:port", "[v6]:port" → listen() arguments. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (m === null || port > 65_535) {
    throw new AgentError("INVALID_ARGUMENT", `cannot listen on ${listen}: expected host:port`);
  }
  return { host: m[1] ?? m[2] ?? "", port };
}

/**
 * The agent's one port: a TLS server that asks every client for a
 * certificate chaining to the CA (as grpc-js's own did) and hands "h2"
 * connections (and clients that name no protocol) to grpc-js, and the raw
 * push protocol's to `onRawPush`. The handshake, hence who may connect, is
 * the same for both.
 */
export async function listenShared(
  /** undefined: listen nowhere, take injected connections only. */
  listen: string | undefined,
  tls: TlsMaterial,
  grpcServer: Server,
  onRawPush: (socket: TLSSocket) => void,
  onError: (e: Error) => void = () => undefined,
  /** A client passed the handshake and speaks gRPC: called before grpc-js gets the connection. */
  onGrpcClient: () => void = () => undefined,
): Promise<SharedListener> {
  const { host, port } = listen === undefined ? { host: "", port: 0 } : parseListen(listen);
  const hosts = listen === undefined ? [] : await addresses(listen, host);
  // The sockets arrive decrypted already: grpc-js must not add TLS of its own.
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  const raw = new Set<TLSSocket>();
  const all = new Set<Socket>();
  const servers: TlsServer[] = [];
  const closeAll = async (graceMs: number) => {
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const s of raw) s.destroy();
    injector.destroy();
    const timer = setTimeout(() => {
      for (const s of all) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  };
  let bound = port;
  let listening = 0;
  let firstError: unknown;
  const newServer = () => {
    const server = createServer(
      {
        ...secureOptions(tls),
        requestCert: true,
        rejectUnauthorized: true,
        // Ours first, newest first: the server's order decides; an old controller offers only h2.
        ALPNProtocols: [...RAW_PUSH_ALPNS, "h2"],
      },
      (socket) => {
        if (typeof socket.alpnProtocol === "string" && RAW_PUSH_ALPNS.includes(socket.alpnProtocol)) {
          raw.add(socket);
          socket.once("close", () => raw.delete(socket));
          onRawPush(socket);
        } else {
          try {
            onGrpcClient();
          } catch (e) {
            onError(e as Error); // a hint for later: never the connection's end
          }
          injector.injectConnection(socket);
        }
      },
    );
    server.on("connection", (socket: Socket) => {
      all.add(socket);
      socket.once("close", () => all.delete(socket));
    });
    // A failed handshake (wrong CA, no certificate) is the client's problem; it sees the alert.
    server.on("tlsClientError", () => undefined);
    return server;
  };
  // Never listens: relays' streams are emitted into it as connections.
  const tunnel = newServer();
  // Like grpc-js: every address the host name has ("localhost": 127.0.0.1 and ::1), on one port;
  // it is enough that one of them can be had.
  for (const address of hosts) {
    const server = newServer();
    server.listen(bound, address);
    try {
      await once(server, "listening"); // rejects on "error" (the port is taken)
    } catch (e) {
      firstError ??= e;
      continue;
    }
    servers.push(server);
    listening++;
    // After listening (e.g. accept failing with EMFILE): logged, the listener keeps going.
    server.on("error", onError);
    const a = server.address();
    if (typeof a === "object" && a !== null) bound = a.port;
  }
  if (listening === 0 && listen !== undefined) {
    await closeAll(0);
    const why = firstError instanceof Error ? firstError.message : String(firstError);
    throw new AgentError("FAILED_PRECONDITION", `cannot listen on ${listen}: ${why}`, { cause: firstError });
  }
  return {
    port: bound,
    close: closeAll,
    inject: (stream) => tunnel.emit("connection", stream),
    reload: (next) => {
      // Checked once before any server takes it: all of them or none.
      createSecureContext(secureOptions(next));
      for (const s of [...servers, tunnel]) s.setSecureContext(secureOptions(next));
    },
  };
}

/** The addresses to listen on: an IP as it is, a name resolved (all of them); "" is every interface. */
async function addresses(listen: string, host: string): Promise<(string | undefined)[]> {
  if (host === "" || isIP(host) !== 0) return [host === "" ? undefined : host];
  try {
    const found = await lookup(host, { all: true });
    return [...new Set(found.map((f) => f.address))];
  } catch (e) {
    throw new AgentError("FAILED_PRECONDITION", `cannot listen on ${listen}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
