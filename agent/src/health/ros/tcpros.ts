import { Socket } from "node:net";
import { AgentError } from "../../errors.js";

/**
 * TCPROS connection headers: a little-endian uint32 total length, then
 * fields, each a uint32 length and `key=value`.
 */
export function encodeHeader(fields: Readonly<Record<string, string>>): Buffer {
  const parts = Object.entries(fields).map(([k, v]) => {
    const b = Buffer.from(`${k}=${v}`, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return Buffer.concat([len, b]);
  });
  const body = Buffer.concat(parts);
  const total = Buffer.alloc(4);
  total.writeUInt32LE(body.length);
  return Buffer.concat([total, body]);
}

/** Decodes a header body (without its leading total length). */
export function decodeHeader(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i + 4 <= body.length) {
    const len = body.readUInt32LE(i);
    i += 4;
    if (i + len > body.length) throw new AgentError("EXTERNAL_COMMAND_FAILED", "truncated TCPROS header");
    const field = body.subarray(i, i + len).toString("utf8");
    i += len;
    const eq = field.indexOf("=");
    if (eq > 0) out.set(field.slice(0, eq), field.slice(eq + 1));
  }
  return out;
}

/** What a publisher says about its topic in its connection header. */
export interface PublisherHeader {
  readonly type: string;
  readonly md5sum: string;
  /** Full definition, dependencies included (`===…MSG: pkg/Type` sections). */
  readonly messageDefinition: string;
  readonly callerId: string | undefined;
}

const MAX_HEADER = 1024 * 1024;

/**
 * Connects to a publisher's TCPROS port as a subscriber of ANY type (md5sum
 * and type `*`, which rospy and roscpp accept, like rostopic does), reads the
 * publisher's header, and hangs up. Bounded by `timeoutMs` and `signal`.
 */
export function probePublisher(
  host: string,
  port: number,
  request: { readonly callerId: string; readonly topic: string },
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<PublisherHeader> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buf = Buffer.alloc(0);
    const finish = (err: Error | undefined, value?: PublisherHeader): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (err !== undefined) reject(err);
      else if (value !== undefined) resolve(value);
    };
    const onAbort = (): void =>
      finish(
        new AgentError("ABORTED", `probe of ${host}:${port} aborted`, { cause: options.signal?.reason }),
      );
    const timer = setTimeout(
      () =>
        finish(
          new AgentError(
            "TIMEOUT",
            `publisher ${host}:${port} sent no header within ${options.timeoutMs / 1000} s`,
          ),
        ),
      options.timeoutMs,
    );
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (e) =>
      finish(
        new AgentError("EXTERNAL_COMMAND_FAILED", `publisher ${host}:${port}: ${e.message}`, { cause: e }),
      ),
    );
    socket.on("close", () =>
      finish(new AgentError("EXTERNAL_COMMAND_FAILED", `publisher ${host}:${port} closed the connection`)),
    );
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const len = buf.readUInt32LE(0);
      if (len > MAX_HEADER)
        return finish(new AgentError("EXTERNAL_COMMAND_FAILED", "TCPROS header too large"));
      if (buf.length < 4 + len) return;
      try {
        const h = decodeHeader(buf.subarray(4, 4 + len));
        const error = h.get("error");
        if (error !== undefined)
          return finish(
            new AgentError("EXTERNAL_COMMAND_FAILED", `publisher ${host}:${port} refused: ${error}`),
          );
        const type = h.get("type");
        const md5sum = h.get("md5sum");
        if (type === undefined || md5sum === undefined || type === "*" || md5sum === "*")
          return finish(
            new AgentError("EXTERNAL_COMMAND_FAILED", `publisher ${host}:${port} did not say its type`),
          );
        finish(undefined, {
          type,
          md5sum,
          messageDefinition: h.get("message_definition") ?? "",
          callerId: h.get("callerid"),
        });
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.connect(port, host, () => {
      socket.write(
        encodeHeader({
          callerid: request.callerId,
          topic: request.topic,
          md5sum: "*",
          type: "*",
          tcp_nodelay: "1",
        }),
      );
    });
  });
}
