import { type ClientHttp2Session, type ClientHttp2Stream, connect as h2connect } from "node:http2";
import type { Duplex } from "node:stream";
import type { SecureContext } from "node:tls";
import {
  type DedicatedBody,
  H_REFUSAL,
  MAX_ANSWER_BYTES,
  type QueryBody,
  RELAY_H2_SETTINGS,
  RELAY_SESSION_WINDOW,
  type RefusalBody,
  type RobotState,
  TICKET,
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
  /** The same, parsed once (connect.ts's TlsCache). */
  | { readonly secureContext: SecureContext }
);

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

/** "host:port" / "[v6]:port" (the inventory validated it). */
export function split(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(i + 1)) };
}

/**
 * One HTTP/2 connection to a relay's controller port, shared by every robot
 * this process talks to through it: a stream per robot connection, not a TLS
 * handshake. Made at the first call, made again after it ends. It keeps the
 * process alive only while a stream is open.
 */
export class RelayClient {
  private session: ClientHttp2Session | undefined;
  private connecting: Promise<ClientHttp2Session> | undefined;
  private open = 0;

  constructor(private readonly relay: RelayEndpoint) {}

  get address(): string {
    return this.relay.address;
  }

  /** A byte stream to `robot`'s agent (the caller runs its TLS over it). */
  async dial(robot: string, timeoutMs: number): Promise<Duplex> {
    const stream = await this.request({ ":method": "CONNECT", ":authority": robot }, undefined, timeoutMs);
    const { status, headers } = stream;
    if (status === 200) return stream.stream;
    const refusal = await refusalOf(stream.stream, headers, timeoutMs);
    if (refusal.code === "NOT_CONNECTED") throw notConnected(this.relay, robot, refusal.lastSeen);
    throw new RelayRefused(refusal.code, `relay ${this.relay.address}: ${refusal.message}`);
  }

  /** A ticket for a dedicated connection to `robot`'s agent (dedicated.ts); the robot is asked to dial in. */
  async ticket(robot: string, timeoutMs: number): Promise<string> {
    const body: DedicatedBody = { robot };
    const answer = await this.post("/dedicated", body, robot, timeoutMs);
    if (typeof answer.ticket !== "string" || !TICKET.test(answer.ticket)) {
      throw new RelayRefused("BAD_REQUEST", `relay ${this.relay.address} did not answer with a ticket`);
    }
    return answer.ticket;
  }

  /** Whether these robots are connected to the relay now, and since when (or when last seen). */
  async query(robots: readonly string[], timeoutMs: number): Promise<readonly RobotState[]> {
    const body: QueryBody = { robots };
    const answer = await this.post("/robots", body, undefined, timeoutMs);
    if (!Array.isArray(answer.robots)) {
      throw new RelayRefused("BAD_REQUEST", `relay ${this.relay.address} did not answer the query`);
    }
    return answer.robots as RobotState[];
  }

  /** POSTs `body` and returns the answer's JSON object; a refusal throws (NOT_CONNECTED names `robot`). */
  private async post(
    path: string,
    body: object,
    robot: string | undefined,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const { stream, status, headers } = await this.request(
      { ":method": "POST", ":path": path, "content-type": "application/json" },
      Buffer.from(JSON.stringify(body)),
      timeoutMs,
    );
    if (status !== 200) {
      const refusal = await refusalOf(stream, headers, timeoutMs);
      if (refusal.code === "NOT_CONNECTED" && robot !== undefined) {
        throw notConnected(this.relay, robot, refusal.lastSeen);
      }
      throw new RelayRefused(refusal.code, `relay ${this.relay.address}: ${refusal.message}`);
    }
    const answer: unknown = JSON.parse((await readBounded(stream, timeoutMs)).toString("utf8"));
    return typeof answer === "object" && answer !== null ? (answer as Record<string, unknown>) : {};
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private async request(
    headers: Record<string, string>,
    body: Buffer | undefined,
    timeoutMs: number,
  ): Promise<{ stream: ClientHttp2Stream; status: number; headers: Record<string, unknown> }> {
    const session = await this.connect(timeoutMs);
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (cause) {
      throw unreachable(this.relay.address, cause);
    }
    if (this.open++ === 0) session.ref();
    stream.once("close", () => {
      if (--this.open === 0 && !session.destroyed) session.unref();
    });
    if (body !== undefined) stream.end(body);
    try {
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no answer from the relay within ${timeoutMs / 1000}s`)),
          timeoutMs,
        );
        stream.once("response", (h) => {
          clearTimeout(timer);
          resolve({ stream, status: Number(h[":status"]), headers: h });
        });
        stream.once("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
        stream.once("close", () => {
          clearTimeout(timer);
          reject(new Error("the relay closed the stream"));
        });
      });
    } catch (cause) {
      stream.destroy();
      throw unreachable(this.relay.address, cause);
    }
  }

  private connect(timeoutMs: number): Promise<ClientHttp2Session> {
    const live = this.session;
    if (live !== undefined && !live.destroyed && !live.closed) return Promise.resolve(live);
    this.connecting ??= new Promise<ClientHttp2Session>((resolve, reject) => {
      const { host, port } = split(this.relay.address);
      const ip = /^[\d.]+$|:/.test(host);
      const s = h2connect(`https://${host.includes(":") ? `[${host}]` : host}:${port}`, {
        ...("secureContext" in this.relay
          ? { secureContext: this.relay.secureContext }
          : { ca: this.relay.ca, cert: this.relay.cert, key: this.relay.key }),
        ...(ip ? {} : { servername: host }),
        settings: RELAY_H2_SETTINGS,
      });
      const timer = setTimeout(
        () => s.destroy(new Error(`no answer from the relay within ${timeoutMs / 1000}s`)),
        timeoutMs,
      );
      s.on("error", (e) => {
        clearTimeout(timer);
        reject(unreachable(this.relay.address, e));
      });
      s.once("connect", () => {
        clearTimeout(timer);
        s.setLocalWindowSize(RELAY_SESSION_WINDOW);
        if (this.open === 0) s.unref();
        this.session = s;
        resolve(s);
      });
      s.once("close", () => {
        clearTimeout(timer);
        reject(unreachable(this.relay.address, new Error("connection closed")));
        if (this.session === s) this.session = undefined;
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }
}

function unreachable(address: string, cause: unknown): RelayRefused {
  if (cause instanceof RelayRefused) return cause;
  return new RelayRefused(
    "UNREACHABLE",
    `cannot reach the relay at ${address}: ${(cause as Error).message}`,
    { cause },
  );
}

async function readBounded(stream: ClientHttp2Stream, timeoutMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => stream.destroy(new Error("the relay's answer did not end")), timeoutMs);
  try {
    for await (const b of stream as AsyncIterable<Buffer>) {
      size += b.length;
      if (size > MAX_ANSWER_BYTES) throw new Error(`the relay's answer exceeds ${MAX_ANSWER_BYTES} bytes`);
      chunks.push(b);
    }
  } finally {
    clearTimeout(timer);
    stream.destroy();
  }
  return Buffer.concat(chunks);
}

/** The relay's refusal (its body, or its header when the body is unreadable). */
async function refusalOf(
  stream: ClientHttp2Stream,
  headers: Record<string, unknown>,
  timeoutMs: number,
): Promise<RefusalBody> {
  const code = String(headers[H_REFUSAL] ?? "BAD_REQUEST");
  try {
    const body = JSON.parse((await readBounded(stream, timeoutMs)).toString("utf8")) as Partial<RefusalBody>;
    return {
      code: refusalCode(body.code ?? code),
      message: String(body.message ?? `refused (${code.slice(0, 20)})`),
      ...(typeof body.lastSeen === "string" ? { lastSeen: body.lastSeen } : {}),
    };
  } catch {
    return { code: refusalCode(code), message: `refused (HTTP ${String(headers[":status"]).slice(0, 5)})` };
  }
}

const CODES: readonly string[] = [
  "NOT_CONNECTED",
  "NO_STREAM",
  "BAD_REQUEST",
] satisfies RefusalBody["code"][];
export const refusalCode = (c: unknown): RefusalBody["code"] =>
  typeof c === "string" && CODES.includes(c) ? (c as RefusalBody["code"]) : "BAD_REQUEST";

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
