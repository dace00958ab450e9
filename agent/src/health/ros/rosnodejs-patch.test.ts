import { createRequire } from "node:module";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { patchRosnodejs, patchSubscriberImpl } from "./rosnodejs-patch.js";

// The real rosnodejs 3.1.0 SubscriberImpl, with a fake node handle (no master needed) and a
// real TCP server standing in for the publisher. Subclasses are patched, so each test can
// compare patched and unpatched classes without touching the shared prototype.

const require = createRequire(import.meta.url);
const VERSION = String((require("rosnodejs/package.json") as { version: string }).version);

interface Impl {
  on(event: "message", listener: (msg: string) => void): unknown;
  _pubClients: Record<string, Socket | undefined>;
  _pendingPubClients: Record<string, Socket | undefined>;
  _disconnectClient(uri: string): void;
  _handleTcpTopicRequestResponse(resp: unknown, uri: string): void;
  shutdown(): void;
}
type ImplClass = new (options: object, nodeHandle: object) => Impl;

function loadClass(): ImplClass {
  // rosnodejs' modules refuse to load without it.
  process.env.CMAKE_PREFIX_PATH ??= "/nonexistent/ros-rollback";
  return require("rosnodejs/dist/lib/impl/SubscriberImpl.js") as ImplClass;
}

const URI = "http://127.0.0.1:1/";
let server: Server | undefined;
const subs: Impl[] = [];

afterEach(async () => {
  for (const s of subs.splice(0)) {
    const sockets = [...Object.values(s._pubClients), ...Object.values(s._pendingPubClients)];
    s.shutdown();
    // Unpatched, shutdown leaves connecting sockets without an 'error' listener: close them here.
    for (const socket of sockets) socket?.destroy();
  }
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function publisher(): Promise<{ port: number; next: () => Promise<Socket> }> {
  const s = createServer((c) => c.resume());
  server = s;
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const a = s.address();
  return {
    port: typeof a === "object" && a !== null ? a.port : 0,
    next: () => new Promise((r) => s.once("connection", r)),
  };
}

function subscriber(cls: ImplClass): Impl {
  const nodeHandle = {
    getSpinner: () => ({ addClient() {}, disconnect() {} }),
    registerSubscriber: () => new Promise(() => {}),
    getNodeName: () => "/rr_patch_test",
  };
  const typeClass = {
    md5sum: () => "0123",
    messageDefinition: () => "string data\n",
    deserialize: (b: Buffer) => b.toString("utf8"),
  };
  const sub = new cls(
    // throttleMs -1 as RosnodejsMonitor subscribes: messages are handled at once, without the spinner.
    { topic: "/t", type: "std_msgs/String", transports: ["TCPROS"], typeClass, throttleMs: -1 },
    nodeHandle,
  );
  subs.push(sub);
  return sub;
}

function patched(): ImplClass {
  const cls = class extends loadClass() {};
  expect(patchSubscriberImpl(cls, VERSION)).toEqual({ applied: true, already: false });
  return cls;
}

describe("patchSubscriberImpl (rosnodejs 3.1.0)", () => {
  it("A: disconnecting a client that is still connecting closes its socket", async () => {
    const { port } = await publisher();
    const resp = [1, "", ["TCPROS", "127.0.0.1", port]];
    for (const [cls, closed] of [
      [loadClass(), false],
      [patched(), true],
    ] as const) {
      const sub = subscriber(cls);
      sub._handleTcpTopicRequestResponse(resp, URI);
      const socket = sub._pendingPubClients[URI];
      expect(socket?.connecting).toBe(true);
      sub._disconnectClient(URI);
      // Unpatched: left to connect with no listener, to send nothing and never close.
      expect(socket?.destroyed).toBe(closed);
      socket?.destroy();
    }
  });

  it("A: disconnecting a connected client still hangs up on the publisher", async () => {
    const { port, next } = await publisher();
    const sub = subscriber(patched());
    const accepted = next();
    sub._handleTcpTopicRequestResponse([1, "", ["TCPROS", "127.0.0.1", port]], URI);
    const socket = sub._pendingPubClients[URI];
    const peer = await accepted;
    if (socket?.connecting) await new Promise((r) => socket.once("connect", r));
    sub._disconnectClient(URI);
    expect(sub._pendingPubClients[URI]).toBeUndefined();
    await new Promise((r) => peer.once("close", r));
  });

  it("B: a second connection to a publisher being connected (or connected) is not opened", async () => {
    const { port } = await publisher();
    const resp = [1, "", ["TCPROS", "127.0.0.1", port]];
    const unpatched = subscriber(loadClass());
    unpatched._handleTcpTopicRequestResponse(resp, URI);
    const replaced = unpatched._pendingPubClients[URI];
    unpatched._handleTcpTopicRequestResponse(resp, URI);
    const second = unpatched._pendingPubClients[URI];
    // The bug: the pending socket is replaced, and both connect.
    expect(second).not.toBe(replaced);
    for (const socket of [replaced, second])
      socket
        ?.removeAllListeners()
        .on("error", () => {})
        .destroy();
    delete unpatched._pendingPubClients[URI];

    const sub = subscriber(patched());
    sub._handleTcpTopicRequestResponse(resp, URI);
    const first = sub._pendingPubClients[URI];
    expect(first).toBeDefined();
    sub._handleTcpTopicRequestResponse(resp, URI);
    expect(sub._pendingPubClients[URI]).toBe(first);
    // Validated connections count too (as `_handleConnectionHeader` moves them).
    sub._pubClients[URI] = first;
    delete sub._pendingPubClients[URI];
    sub._handleTcpTopicRequestResponse(resp, URI);
    expect(sub._pendingPubClients[URI]).toBeUndefined();
    // Another publisher is still connected to.
    sub._handleTcpTopicRequestResponse(resp, "http://127.0.0.1:2/");
    expect(sub._pendingPubClients["http://127.0.0.1:2/"]).toBeDefined();
  });

  it("C: frames read straight from the socket reach rosnodejs as through its DeserializeStream", async () => {
    const frame = (body: string) => {
      const b = Buffer.from(body);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return Buffer.concat([len, b]);
    };
    const header = frame(
      Buffer.concat(
        ["callerid=/talker", "md5sum=0123", "type=std_msgs/String", "message_definition=string data\n"].map(
          (f) => frame(f),
        ),
      ).toString("latin1"),
    );
    const messages = ["hello 1", "", "hello 333", "x".repeat(100_000)];
    const bytes = Buffer.concat([header, ...messages.map(frame)]);
    for (const cls of [loadClass(), patched()]) {
      const { port, next } = await publisher();
      const sub = subscriber(cls);
      const got: string[] = [];
      const all = new Promise<void>((resolve) =>
        sub.on("message", (m) => {
          got.push(m);
          if (got.length === messages.length) resolve();
        }),
      );
      const accepted = next();
      sub._handleTcpTopicRequestResponse([1, "", ["TCPROS", "127.0.0.1", port]], URI);
      const peer = await accepted;
      peer.setNoDelay(true);
      // Cut inside the header, inside a length field and inside the large message.
      for (const [from, to] of [
        [0, 10],
        [10, header.length + 2],
        [header.length + 2, header.length + 30],
        [header.length + 30, bytes.length - 5000],
        [bytes.length - 5000, bytes.length],
      ] as const) {
        peer.write(bytes.subarray(from, to));
        await new Promise((r) => setTimeout(r, 5));
      }
      await all;
      expect(got).toEqual(messages);
      expect(sub._pubClients[URI]).toBeDefined();
      subs.splice(subs.indexOf(sub), 1);
      sub.shutdown();
      peer.destroy();
      await new Promise<void>((r) => server?.close(() => r()) ?? r());
      server = undefined;
    }
  });

  it("refuses another version or changed methods, changing nothing; applies once", () => {
    const cls = class extends loadClass() {};
    expect(patchSubscriberImpl(cls, "3.1.1")).toEqual({
      applied: false,
      reason: "rosnodejs 3.1.1, not 3.1.0",
    });
    const changed = class extends cls {
      override _disconnectClient(uri: string): void {
        super._disconnectClient(uri);
      }
    };
    expect(patchSubscriberImpl(changed, VERSION)).toEqual({
      applied: false,
      reason: "SubscriberImpl._disconnectClient is not rosnodejs 3.1.0's",
    });
    expect(Object.hasOwn(changed.prototype, "_handleTcpTopicRequestResponse")).toBe(false);
    expect(patchSubscriberImpl({}, VERSION)).toMatchObject({ applied: false });
    expect(patchSubscriberImpl(cls, VERSION)).toEqual({ applied: true, already: false });
    expect(patchSubscriberImpl(cls, VERSION)).toEqual({ applied: true, already: true });
  });

  // Last: it patches the class every other test here extends.
  it("patchRosnodejs patches the installed rosnodejs", () => {
    expect(VERSION).toBe("3.1.0");
    expect(patchRosnodejs()).toEqual({ applied: true, already: false });
    expect(patchRosnodejs()).toEqual({ applied: true, already: true });
    expect(Object.getOwnPropertySymbols(loadClass().prototype).map(String)).toContain(
      "Symbol(ros-rollback.rosnodejs-3.1.0-subscriber-fixes)",
    );
  });
});
