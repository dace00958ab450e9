import { status } from "@grpc/grpc-js";
import { rawPush } from "@ros-rollback/controller/testing";
import { childProcesses } from "@ros-rollback/nix-core/testing";
import {
  Compression,
  decodeRawPushError,
  FRAME,
  frameHeader,
  type PushPathsRequest,
  type RawPushError,
  serializePushPathsRequest,
} from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawPushRig, signal } from "../raw-push-rig.js";

// What the raw channel refuses, and how a push that stops half-way ends: nothing half-sent is registered.

let rig: RawPushRig;
beforeAll(async () => {
  rig = await RawPushRig.start("raw-refusals");
}, 60_000);
afterAll(() => rig?.close());

const TIMEOUTS = { connectTimeoutMs: 5_000, answerTimeoutMs: 10_000 };

/** Writes `bytes` on a raw channel connection as they are, and returns the agent's ERROR. */
async function sendRaw(bytes: Buffer): Promise<RawPushError | undefined> {
  const { socket, answer } = rig.openRaw();
  socket.write(bytes);
  const all = await answer;
  expect(all[0]).toBe(FRAME.ERROR);
  return decodeRawPushError(all.subarray(5, 5 + all.readUInt32BE(1)));
}

const message = (m: PushPathsRequest) => {
  const body = serializePushPathsRequest(m);
  return Buffer.concat([frameHeader(FRAME.MESSAGE, body.length), body]);
};

/** The closure's first path announced and half its bytes sent. */
function halfAPath(): Buffer {
  const [first] = rig.closure;
  if (first === undefined) throw new Error("empty closure");
  const half = Buffer.alloc(Math.floor(first.narSize / 2));
  return Buffer.concat([
    message({
      item: { $case: "options", value: { compression: Compression.COMPRESSION_NONE, totalNarSize: 0 } },
    }),
    message({ item: { $case: "path", value: first } }),
    frameHeader(FRAME.DATA, half.length),
    half,
  ]);
}

describe("the raw push channel refuses", () => {
  it("an untrusted signature with the status gRPC would give: PERMISSION_DENIED, UNTRUSTED", async () => {
    rig.newRobot(false);
    await expect(rawPush(rig.endpoint(), rig.requests(), signal(), TIMEOUTS)).rejects.toMatchObject({
      name: "RawPushStatus",
      code: status.PERMISSION_DENIED,
      agentCode: "UNTRUSTED",
    });
    expect(await rig.valid()).toEqual([]);
  });

  it("a client certificate from another CA: nothing reaches the store", async () => {
    rig.newRobot();
    const before = rig.pushes.length;
    const rogue = rig.endpoint({ cert: rig.pki.rogueCert, key: rig.pki.rogueKey });
    await expect(rawPush(rogue, rig.requests(), signal(), TIMEOUTS)).rejects.toMatchObject({
      name: "RawPushBroken",
    });
    expect(rig.pushes.length).toBe(before);
    expect(await rig.valid()).toEqual([]);
  });

  it("garbage with INVALID_ARGUMENT: an unknown frame, an oversized frame, an undecodable message", async () => {
    rig.newRobot();
    const http = await sendRaw(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    expect(http).toEqual({
      code: status.INVALID_ARGUMENT,
      agentCode: "INVALID_ARGUMENT",
      details: "not a raw push stream: unexpected frame type 71",
    });
    const huge = await sendRaw(frameHeader(FRAME.MESSAGE, 0xffff_fff0));
    expect(huge?.details).toMatch(/^not a raw push stream: frame of type 1 is 4294967280 bytes, more than /);
    const junk = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    const bad = await sendRaw(Buffer.concat([frameHeader(FRAME.MESSAGE, junk.length), junk]));
    expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(bad?.details).toMatch(/^cannot decode the PushPaths request: /);
    expect(await rig.valid()).toEqual([]);
  });
});

describe("deadlines", () => {
  it("an agent that never answers after END: the controller gives up after its deadline and hangs up", async () => {
    rig.newRobot();
    rig.silent = true;
    try {
      const before = rig.pushes.length;
      const quick = { ...TIMEOUTS, answerTimeoutMs: 300 };
      await expect(rawPush(rig.endpoint(), rig.requests(), signal(), quick)).rejects.toMatchObject({
        name: "RawPushNoAnswer",
        what: "PushPaths (after the last byte)",
      });
      await expect(rig.pushes[before]).rejects.toMatchObject({ code: "ABORTED" });
    } finally {
      rig.silent = false;
    }
  });
});

describe("a raw push that stops before END is aborted", () => {
  it("the controller gives up mid-path: earlier paths stay, the cut one is not registered, no nix process is left", async () => {
    rig.newRobot();
    const { closure } = rig;
    const big = closure.findIndex((i) => i.narSize > 1024 * 1024);
    expect(big).toBeGreaterThan(0);
    const ac = new AbortController();
    const cut = async function* (): AsyncGenerator<PushPathsRequest> {
      let current = "";
      let chunks = 0;
      for await (const m of rig.requests()) {
        if (m.item?.$case === "path") current = m.item.value.storePath;
        if (m.item?.$case === "chunk" && current === closure[big]?.storePath && ++chunks === 3) {
          ac.abort(new Error("operator pressed ^C"));
        }
        yield m;
      }
    };
    const before = rig.pushes.length;
    await expect(rawPush(rig.endpoint(), cut(), ac.signal, TIMEOUTS)).rejects.toThrow("operator pressed ^C");
    await expect(rig.pushes[before]).rejects.toMatchObject({ code: "ABORTED" });
    expect(await rig.valid()).toEqual(closure.slice(0, big).map((i) => i.storePath));
    expect(await childProcesses()).toEqual([]);
  });

  it("a connection closed cleanly (TLS close_notify, FIN) before END: nothing registered", async () => {
    rig.newRobot();
    const before = rig.pushes.length;
    const { socket, answer } = rig.openRaw();
    socket.end(halfAPath());
    await answer;
    await expect(rig.pushes[before]).rejects.toMatchObject({ code: "ABORTED" });
    expect(await rig.valid()).toEqual([]);
    expect(await childProcesses()).toEqual([]);
  });

  it("the agent shutting down mid-push: the push aborts, the client hears the connection broke", async () => {
    rig.newRobot();
    const before = rig.pushes.length;
    let stall: () => void = () => undefined;
    const stalled = async function* (): AsyncGenerator<PushPathsRequest> {
      let chunks = 0;
      for await (const m of rig.requests()) {
        yield m;
        if (m.item?.$case === "chunk" && ++chunks === 2) await new Promise<void>((r) => (stall = r));
      }
    };
    const pushing = rawPush(rig.endpoint(), stalled(), signal(), TIMEOUTS);
    pushing.catch(() => undefined);
    while (rig.pushes.length === before) await new Promise((r) => setTimeout(r, 20));
    await rig.closeListener();
    await expect(rig.pushes[before]).rejects.toMatchObject({ code: "ABORTED" });
    stall();
    await expect(pushing).rejects.toMatchObject({ name: "RawPushBroken" });
    expect(await childProcesses()).toEqual([]);
  });
});
