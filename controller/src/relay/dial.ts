import { connect, type SecureContext, type TLSSocket } from "node:tls";
import {
  encodeRelayFrame,
  type RelayMessage,
  type RobotState,
  readRelayHeader,
} from "@ros-rollback/proto/relay";

/** The relay's address and the controller's mutual-TLS material for it. */
export type RelayEndpoint = { readonly address: string } & (
  | {
      /** CA of the relay's server certificate. */
      readonly ca: Buffer;
      /** The controller's certificate and key (the relay's controllerCaFile must accept them). */
      readonly cert: Buffer;
      readonly key: Buffer;
    }
  /** The same, parsed once for many connections (connect.ts's TlsCache). */
  | { readonly secureContext: SecureContext; readonly sessions?: RelaySessions }
);

/**
 * The last TLS session ticket the relay gave this controller certificate, so
 * the next connection resumes (no certificate exchange or signature: about
 * half the handshake CPU at both ends). A resumed session is the one the relay
 * authenticated in full; the relay's ticket keys live as long as its process,
 * so a relay restarted with another CA accepts no earlier ticket. Keep one
 * instance per secure context (a ticket belongs to the certificate that got it).
 */
export class RelaySessions {
  private readonly byAddress = new Map<string, Buffer>();
  get(address: string): Buffer | undefined {
    return this.byAddress.get(address);
  }
  set(address: string, session: Buffer): void {
    this.byAddress.set(address, session);
  }
}

/** The relay said no (or could not be reached); `message` is for the user, bounded. */
export class RelayRefused extends Error {
  override readonly name = "RelayRefused";
  constructor(
    readonly code: "NOT_CONNECTED" | "NO_STREAM" | "BAD_REQUEST" | "UNREACHABLE",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message.length > 300 ? `${message.slice(0, 300)}…` : message, options);
  }
}

function split(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(i + 1)) };
}

/** One TLS connection to the relay's controller port that has sent `first` and read the relay's answer. */
async function exchange(
  relay: RelayEndpoint,
  first: RelayMessage,
  timeoutMs: number,
): Promise<{ socket: TLSSocket; answer: RelayMessage }> {
  const { host, port } = split(relay.address);
  const sessions = "sessions" in relay ? relay.sessions : undefined;
  const session = sessions?.get(relay.address);
  const socket = connect({
    host,
    port,
    ...("secureContext" in relay
      ? { secureContext: relay.secureContext }
      : { ca: relay.ca, cert: relay.cert, key: relay.key }),
    servername: /^[\d.]+$|:/.test(host) ? undefined : host,
    ...(session === undefined ? {} : { session }),
  });
  if (sessions !== undefined) socket.on("session", (s: Buffer) => sessions.set(relay.address, s));
  const timer = setTimeout(
    () => socket.destroy(new Error(`no answer from the relay within ${timeoutMs / 1000}s`)),
    timeoutMs,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    socket.write(encodeRelayFrame(first));
    const answer = await readRelayHeader(socket, timeoutMs);
    return { socket, answer };
  } catch (cause) {
    socket.destroy();
    throw new RelayRefused(
      "UNREACHABLE",
      `cannot reach the relay at ${relay.address}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** A byte stream to `robot`'s agent through the relay (the caller runs its TLS over it). */
export async function dialThroughRelay(
  relay: RelayEndpoint,
  robot: string,
  timeoutMs: number,
): Promise<TLSSocket> {
  const { socket, answer } = await exchange(relay, { t: "dial", robot }, timeoutMs);
  if (answer.t === "ok") return socket;
  socket.destroy();
  if (answer.t === "refused" && answer.code === "NOT_CONNECTED")
    throw notConnected(relay, robot, answer.lastSeen);
  if (answer.t === "refused")
    throw new RelayRefused(answer.code, `relay ${relay.address}: ${answer.message}`);
  throw new RelayRefused("BAD_REQUEST", `relay ${relay.address} answered ${String(answer.t).slice(0, 20)}`);
}

/** Whether these robots are connected to the relay now, and since when (or when last seen). */
export async function queryRelay(
  relay: RelayEndpoint,
  robots: readonly string[],
  timeoutMs: number,
): Promise<readonly RobotState[]> {
  const { socket, answer } = await exchange(relay, { t: "query", robots }, timeoutMs);
  socket.destroy();
  if (answer.t === "refused")
    throw new RelayRefused(answer.code, `relay ${relay.address}: ${answer.message}`);
  if (answer.t !== "robots" || !Array.isArray(answer.robots)) {
    throw new RelayRefused("BAD_REQUEST", `relay ${relay.address} did not answer the query`);
  }
  return answer.robots;
}

/** The user's message for a robot the relay does not have now (the same for a dial and a query). */
export function notConnected(relay: { address: string }, robot: string, lastSeen: unknown): RelayRefused {
  const seen =
    typeof lastSeen === "string" && lastSeen !== ""
      ? `; last seen ${lastSeen.slice(0, 40)}`
      : "; not seen since the relay started";
  return new RelayRefused(
    "NOT_CONNECTED",
    `${robot} is not connected to the relay at ${relay.address}${seen}`,
  );
}
