import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type TLSSocket } from "node:tls";
import { serveRawPush } from "@ros-rollback/agent/testing";
import {
  computeClosure,
  connectAgent,
  type PushTransport,
  pushRequests,
  rawPush,
} from "@ros-rollback/controller/testing";
import {
  Compression,
  encodeRawPushProgress,
  FRAME,
  FrameReader,
  frameHeader,
  MAX_RESULT_FRAME,
  type PathInfo,
  PushPathsResponse,
  RAW_PUSH_ALPN_V1,
  RAW_PUSH_ALPN_V2,
  type RawPushProgress,
  serializePushPathsRequest,
} from "@ros-rollback/proto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawPushRig, signal } from "../raw-push-rig.js";

// PROGRESS over real TLS into a real Nix store, and both directions of compatibility with version 1.

let rig: RawPushRig;
/** The rig's closure and a 4 MiB random path: several MiB, so several reports. */
let infos: PathInfo[];
let narTotal: number;
beforeAll(async () => {
  rig = await RawPushRig.start("progress");
  const dir = mkdtempSync(join(tmpdir(), "rr-progress-"));
  writeFileSync(join(dir, "blob"), randomBytes(4 * 1024 * 1024));
  const blob = await rig.fx.add(join(dir, "blob"));
  rmSync(dir, { recursive: true, force: true });
  await rig.fx.sign(blob);
  const nix = { storeUri: rig.fx.sourceStore, env: rig.fx.env };
  infos = [...rig.closure, ...(await computeClosure(blob, signal(), nix))];
  narTotal = infos.reduce((n, i) => n + i.narSize, 0);
}, 60_000);
afterAll(() => rig?.close());

const TIMEOUTS = { connectTimeoutMs: 5_000, answerTimeoutMs: 10_000 };
const valid = () =>
  rig.fx.validAmong(
    infos.map((i) => i.storePath),
    rig.storeUri,
  );

describe("PROGRESS on the raw channel (version 2)", () => {
  it.each([
    ["none", Compression.COMPRESSION_NONE],
    ["zstd", Compression.COMPRESSION_ZSTD],
  ])(
    "the agent reports what it consumed while importing (%s); the counts only grow",
    async (_n, compression) => {
      rig.newRobot();
      const reports: RawPushProgress[] = [];
      const opened: boolean[] = [];
      let wire = 0;
      const out = await rawPush(rig.endpoint(), rig.requests(infos, compression), signal(), {
        ...TIMEOUTS,
        onOpen: (progress) => opened.push(progress),
        onProgress: (p) => reports.push(p),
        onWritten: (m) => {
          if (m.item?.$case === "chunk") wire += m.item.value.data.length;
        },
      });
      expect(out.kind).toBe("pushed");
      expect(opened).toEqual([true]);
      expect(await valid()).toEqual(infos.map((i) => i.storePath));
      expect(reports.length).toBeGreaterThanOrEqual(2);
      for (const [i, p] of reports.entries()) {
        const before = reports[i - 1] ?? { wireBytes: 0, narBytes: 0 };
        expect(p.wireBytes).toBeGreaterThanOrEqual(before.wireBytes);
        expect(p.narBytes).toBeGreaterThanOrEqual(before.narBytes);
        expect(p.wireBytes).toBeLessThanOrEqual(wire);
        expect(p.narBytes).toBeLessThanOrEqual(narTotal);
      }
      expect(reports.at(-1)?.wireBytes).toBeGreaterThan(wire / 2);
    },
  );

  it("a version 1 controller (ALPN /1 only): one RESULT frame, no PROGRESS, the closure imported", async () => {
    rig.newRobot();
    const { socket, answer } = rig.openRaw(RAW_PUSH_ALPN_V1);
    await once(socket, "secureConnect");
    expect(socket.alpnProtocol).toBe(RAW_PUSH_ALPN_V1);
    for await (const m of rig.requests(infos)) {
      if (m.item?.$case === "chunk") socket.write(frameHeader(FRAME.DATA, m.item.value.data.length));
      const body = m.item?.$case === "chunk" ? m.item.value.data : serializePushPathsRequest(m);
      if (m.item?.$case !== "chunk") socket.write(frameHeader(FRAME.MESSAGE, body.length));
      if (!socket.write(body)) await once(socket, "drain");
    }
    socket.write(frameHeader(FRAME.END, 0));
    const bytes = await answer;
    const v1 = new Map([
      [FRAME.RESULT, MAX_RESULT_FRAME],
      [FRAME.ERROR, 64 * 1024],
    ]);
    const parts = [...new FrameReader(v1).push(bytes)];
    expect(parts.map((p) => (p.kind === "frame" ? p.type : "data"))).toEqual([FRAME.RESULT]);
    const res = parts[0]?.kind === "frame" ? PushPathsResponse.decode(parts[0].payload) : undefined;
    expect(res?.imported).toEqual(infos.map((i) => i.storePath));
  });
});

describe("the controller's AgentApi on version 2", () => {
  it("hands the agent's reports to auto's link verdict", async () => {
    const api = await connectAgent(
      rig.target(),
      { connectTimeoutMs: 5_000, unaryTimeoutMs: 10_000 },
      signal(),
    );
    try {
      rig.newRobot();
      const choices: string[] = [];
      const nix = { storeUri: rig.fx.sourceStore, env: rig.fx.env };
      // A clock that moves 300 ms per reading: past the skip and the window within two reports.
      let t = 0;
      const messages = pushRequests(
        infos,
        { compression: "auto", nix, now: () => (t += 300), onCompression: (c) => choices.push(c.why) },
        signal(),
      );
      const used: PushTransport[] = [];
      let reports = 0;
      const res = await api.pushPaths(
        messages,
        signal(),
        (m) => messages.written(m),
        (tr) => used.push(tr),
        (p) => {
          reports++;
          messages.agentProgress(p);
        },
      );
      expect(used).toEqual([{ kind: "raw", progress: true }]);
      expect(res.imported).toEqual(infos.map((i) => i.storePath));
      expect(reports).toBeGreaterThanOrEqual(2);
      expect(choices[1]).toMatch(/the agent took [\d.]+ MiB\/s, its reads waited \d+ of \d+ ms\)$/);
    } finally {
      api.close();
    }
  });
});

/** A TLS server with the rig's certificates offering only `alpn`: the agent's serveRawPush, or `answer` to any push. */
async function fakeAgent(alpn: string, answer?: Buffer): Promise<{ address: string; close: () => void }> {
  const { pki } = rig;
  const server = createServer(
    {
      ca: readFileSync(pki.caFile),
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [alpn],
    },
    (socket: TLSSocket) => {
      socket.on("error", () => undefined);
      if (answer === undefined) {
        serveRawPush(socket, rig.pushStore, pino({ level: "silent" })).catch(() => undefined);
      } else {
        socket.resume();
        socket.end(answer);
      }
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const a = server.address();
  const port = typeof a === "object" && a !== null ? a.port : 0;
  return { address: `127.0.0.1:${port}`, close: () => server.close() };
}

describe("compatibility and garbage", () => {
  it("a version 1 agent (its listener offers /1 only): the controller pushes without progress", async () => {
    rig.newRobot();
    const agent = await fakeAgent(RAW_PUSH_ALPN_V1);
    try {
      const opened: boolean[] = [];
      const reports: RawPushProgress[] = [];
      const out = await rawPush(
        { ...rig.endpoint(), address: agent.address },
        rig.requests(infos),
        signal(),
        {
          ...TIMEOUTS,
          onOpen: (p) => opened.push(p),
          onProgress: (p) => reports.push(p),
        },
      );
      expect(out.kind).toBe("pushed");
      expect(opened).toEqual([false]);
      expect(reports).toEqual([]);
      expect(await valid()).toEqual(infos.map((i) => i.storePath));
    } finally {
      agent.close();
    }
  });

  const result = () => {
    const body = Buffer.from(PushPathsResponse.encode({ imported: [], skipped: [], narBytes: 0 }).finish());
    return Buffer.concat([frameHeader(FRAME.RESULT, body.length), body]);
  };
  const progress = (wireBytes: number, narBytes: number, waitedUs = 0) =>
    encodeRawPushProgress({ wireBytes, narBytes, waitedUs });
  const bad = Buffer.concat([frameHeader(FRAME.PROGRESS, 24), Buffer.alloc(24, 0xff)]);

  it.each([
    [
      "a PROGRESS frame on version 1",
      RAW_PUSH_ALPN_V1,
      [progress(1, 2), result()],
      "unexpected frame type 18",
    ],
    [
      "a PROGRESS frame longer than 24 bytes",
      RAW_PUSH_ALPN_V2,
      [frameHeader(FRAME.PROGRESS, 25)],
      "more than 24",
    ],
    [
      "a PROGRESS frame shorter than 24 bytes",
      RAW_PUSH_ALPN_V2,
      [frameHeader(FRAME.PROGRESS, 23), Buffer.alloc(23), result()],
      "not readable",
    ],
    ["counts past 2^53", RAW_PUSH_ALPN_V2, [bad, result()], "not readable"],
    [
      "counts that go backwards",
      RAW_PUSH_ALPN_V2,
      [progress(10, 20), progress(9, 20), result()],
      "went backwards",
    ],
    [
      "a wait that goes backwards",
      RAW_PUSH_ALPN_V2,
      [progress(1, 2, 9), progress(1, 2, 8), result()],
      "went backwards",
    ],
  ])("%s: the push fails as a broken connection, naming why", async (_what, alpn, answer, why) => {
    const agent = await fakeAgent(alpn, Buffer.concat(answer));
    try {
      await expect(
        rawPush({ ...rig.endpoint(), address: agent.address }, rig.requests(), signal(), TIMEOUTS),
      ).rejects.toMatchObject({ name: "RawPushBroken", message: expect.stringContaining(why) });
    } finally {
      agent.close();
    }
  });

  it("PROGRESS frames before the RESULT of a push that is all skipped: read past, the push succeeds", async () => {
    const agent = await fakeAgent(
      RAW_PUSH_ALPN_V2,
      Buffer.concat([progress(5, 7), progress(5, 9), result()]),
    );
    try {
      const reports: RawPushProgress[] = [];
      const out = await rawPush({ ...rig.endpoint(), address: agent.address }, rig.requests(), signal(), {
        ...TIMEOUTS,
        onProgress: (p) => reports.push(p),
      });
      expect(out.kind).toBe("pushed");
      expect(reports).toEqual([
        { wireBytes: 5, narBytes: 7, waitedUs: 0 },
        { wireBytes: 5, narBytes: 9, waitedUs: 0 },
      ]);
    } finally {
      agent.close();
    }
  });
});
