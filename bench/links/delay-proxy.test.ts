import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type DelayProxy, startDelayProxy } from "./delay-proxy.js";

const open: (Server | DelayProxy)[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await new Promise<void>((done) => {
      if ("port" in o) void o.close().then(done);
      else o.close(() => done());
    });
  }
});

/** A TCP server on 127.0.0.1:0 running `handle` per connection (half-open allowed). */
async function server(handle: (s: Socket) => void): Promise<number> {
  const srv = createServer({ allowHalfOpen: true }, handle);
  open.push(srv);
  await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
  const addr = srv.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

async function proxyTo(port: number, delayMs: number, maxQueuedBytes?: number): Promise<DelayProxy> {
  const p = await startDelayProxy({ target: { host: "127.0.0.1", port }, delayMs, maxQueuedBytes });
  open.push(p);
  return p;
}

/** Sends `data`, half-closes, and collects everything until the other side ends. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const got: Buffer[] = [];
    s.on("data", (b: Buffer) => got.push(b));
    s.on("end", () => {
      s.end();
      resolve(Buffer.concat(got));
    });
    s.on("error", reject);
    for (let i = 0; i < data.length; i += 100_000) s.write(data.subarray(i, i + 100_000));
    s.end();
  });
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("delay proxy", () => {
  it("carries bytes intact and in order both ways, and a half-close after the data", async () => {
    // The server answers only after the client's end: the FIN must come through after every byte.
    const port = await server((s) => {
      const got: Buffer[] = [];
      s.on("data", (b: Buffer) => got.push(b));
      s.on("end", () => s.end(Buffer.from(sha(Buffer.concat(got)))));
    });
    const proxy = await proxyTo(port, 5);
    const data = randomBytes(3_000_000);
    expect((await exchange(proxy.port, data)).toString()).toBe(sha(data));
  });

  it("holds every chunk back by the delay in each direction: a round trip takes two", async () => {
    const port = await server((s) => s.pipe(s));
    const proxy = await proxyTo(port, 40);
    const t0 = performance.now();
    const echoed = await exchange(proxy.port, Buffer.from("ping"));
    expect(echoed.toString()).toBe("ping");
    // A lower bound only: the proxy must not be faster than its delay (upper bounds are the bench's).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(80);
  });

  it("pauses a sender beyond its queue bound and still delivers everything", async () => {
    const port = await server((s) => s.pipe(s));
    const proxy = await proxyTo(port, 2, 4096);
    const data = randomBytes(2_000_000);
    expect(sha(await exchange(proxy.port, data))).toBe(sha(data));
  });

  it("closes the client's connection when the target refuses", async () => {
    const port = await server(() => undefined);
    const srv = open.pop() as Server; // free the port again: nothing listens there now
    await new Promise<void>((done) => srv.close(() => done()));
    const proxy = await proxyTo(port, 1);
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port: proxy.port });
      s.on("error", () => undefined);
      s.on("close", () => resolve(true));
    });
    expect(closed).toBe(true);
  });
});
