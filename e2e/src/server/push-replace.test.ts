import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { Server, status } from "@grpc/grpc-js";
import {
  createStorePort,
  listenShared,
  type SharedListener,
  serveRawPush,
} from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests, rawPush } from "@ros-rollback/controller/testing";
import { diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import {
  Compression,
  decodeRawPushError,
  FRAME,
  frameHeader,
  type PathInfo,
  type PushPathsRequest,
  RAW_PUSH_ALPN_V1,
  serializePushPathsRequest,
} from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 27: a push whose connection died without a FIN (a flapping link) must not hold its
// certificate's push slot until the idle limit. The real store adapter (push slots, receiver, nix
// on a chroot store) behind the agent's raw channel, over real mutual TLS on 127.0.0.1.

// Well above an event-loop stall of a loaded 2-core machine: a live push is never taken for stale.
const REPLACE_AFTER_MS = 2_000;
const PER_CLIENT =
  "a push or substitution by this client certificate is running already; one at a time per client";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

let tmp: string;
let pki: TestPki;
let fx: NixFixture;
let listener: SharedListener;
let robotStore: string;
const closures: PathInfo[][] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-push-replace-"));
  pki = makeTestPki(join(tmp, "pki"));
  fx = await NixFixture.create();
  for (const tag of ["stale", "fresh", "live"]) {
    const top = await fx.build(diamondExpr(`replace-${tag}`));
    await fx.sign(top);
    closures.push(
      await computeClosure(top, AbortSignal.timeout(60_000), { storeUri: fx.sourceStore, env: fx.env }),
    );
  }
  robotStore = fx.store("robot");
  const log = pino({ level: "silent" });
  const store = createStorePort({
    storeDir: "/nix/store",
    nixBinDir: undefined,
    storeUri: robotStore,
    env: fx.env,
    trustedPublicKeys: [fx.publicKey],
    log,
    // Long: only a replacement may end the stale push within this test.
    pushIdleTimeoutMs: 60_000,
    pushReplaceAfterMs: REPLACE_AFTER_MS,
  });
  const tls = {
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.serverCert),
    key: readFileSync(pki.serverKey),
  };
  listener = await listenShared("127.0.0.1:0", tls, new Server(), (socket) => {
    serveRawPush(socket, store, log).catch(() => undefined);
  });
}, 120_000);

afterAll(async () => {
  await listener?.close(0);
  await fx?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const messages = (infos: readonly PathInfo[]) =>
  pushRequests(
    infos,
    { compression: Compression.COMPRESSION_NONE, nix: { storeUri: fx.sourceStore, env: fx.env } },
    AbortSignal.timeout(60_000),
  );

/** As the controller frames it: NAR bytes in DATA frames, every other message in a MESSAGE frame. */
const frame = (m: PushPathsRequest) => {
  if (m.item?.$case === "chunk") {
    const data = m.item.value.data;
    return Buffer.concat([frameHeader(FRAME.DATA, data.length), data]);
  }
  const body = serializePushPathsRequest(m);
  return Buffer.concat([frameHeader(FRAME.MESSAGE, body.length), body]);
};

/** A raw channel connection by hand; `answer`: all the agent wrote back, once it closed. */
function openRaw(): { socket: TLSSocket; answer: Promise<Buffer> } {
  const socket = connect({
    port: listener.port,
    host: "127.0.0.1",
    servername: "localhost",
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
    ALPNProtocols: [RAW_PUSH_ALPN_V1],
  });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined);
  const answer = new Promise<Buffer>((resolve) => socket.on("close", () => resolve(Buffer.concat(chunks))));
  return { socket, answer };
}

/** The agent's ERROR frame as a status; undefined for anything else. */
function refusal(all: Buffer): { code: number | undefined; details: string | undefined } | undefined {
  if (all[0] !== FRAME.ERROR) return undefined;
  const e = decodeRawPushError(all.subarray(5, 5 + all.readUInt32BE(1)));
  return { code: e?.code, details: e?.details };
}

/**
 * `infos` pushed until `chunks` NAR chunks are sent (the leaf whole, the big path in part), then
 * silence: no FIN, nothing more, as when a link dies under a push.
 */
async function pushThenVanish(infos: readonly PathInfo[], chunks: number) {
  const c = openRaw();
  const it = messages(infos);
  let sent = 0;
  for await (const m of it) {
    c.socket.write(frame(m));
    if (m.item?.$case === "chunk" && ++sent === chunks) break;
  }
  return c;
}

/** The same certificate's push of `infos` through the controller's raw push client: its outcome or error. */
async function push(infos: readonly PathInfo[]): Promise<string> {
  const endpoint = {
    address: `127.0.0.1:${listener.port}`,
    serverName: "localhost",
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
  };
  return rawPush(endpoint, messages(infos), AbortSignal.timeout(60_000), {
    connectTimeoutMs: 5_000,
    answerTimeoutMs: 30_000,
  }).then(
    (o) => (o.kind === "pushed" ? `imported ${o.response.imported.length}` : o.kind),
    (e: unknown) => `error ${(e as { code?: number }).code}: ${(e as Error).message}`,
  );
}

const valid = (infos: readonly PathInfo[]) =>
  fx.validAmong(
    infos.map((i) => i.storePath),
    robotStore,
  );

describe("a push from the same certificate", () => {
  it("replaces one that vanished mid-path: the new push succeeds at once, nothing half-registered", async () => {
    const [stale = [], fresh = []] = closures;
    const big = stale.find((i) => i.storePath.includes("-big-"));
    expect(big?.narSize).toBeGreaterThan(3 * 128 * 1024);
    const gone = await pushThenVanish(stale, 3);
    await sleep(REPLACE_AFTER_MS + 500);
    // Replaceable once the agent has waited REPLACE_AFTER_MS for the stale push's next message; on a
    // loaded machine it may still be importing what arrived, so "running already" is asked again,
    // far within the 60 s idle limit that would end the stale push otherwise.
    let outcome = await push(fresh);
    for (const until = Date.now() + 20_000; outcome.includes(PER_CLIENT) && Date.now() < until; ) {
      await sleep(500);
      outcome = await push(fresh);
    }
    expect(outcome).toBe(`imported ${fresh.length}`);
    // The agent's ABORTED (the client went away) is gRPC's CANCELLED.
    expect(refusal(await gone.answer)).toEqual({
      code: status.CANCELLED,
      details: expect.stringMatching(/^replaced by a newer push from the same client certificate after \d+s/),
    });
    // The stale push's whole paths may be there; its cut one is not, and the store verifies.
    const staleValid = await valid(stale);
    expect(staleValid).not.toContain(big?.storePath);
    expect(await valid(fresh)).toHaveLength(fresh.length);
    const verify = await run("nix-store", ["--store", robotStore, "--verify", "--check-contents"], {
      env: fx.env,
    });
    expect(verify.stderr).not.toMatch(/invalid|missing|corrupt|modified/i);
  }, 90_000);

  it("is refused while that push is live, however long it runs, and two replacing a stale one race: one wins", async () => {
    const [, , live = []] = closures;
    // Live: a message every 200 ms (never waiting REPLACE_AFTER_MS) for three replace windows.
    const c = openRaw();
    const it = messages(live);
    const first = await it.next();
    if (first.done !== true) c.socket.write(frame(first.value));
    const stopAt = Date.now() + 3 * REPLACE_AFTER_MS;
    while (Date.now() < stopAt) {
      await sleep(200);
      const m = await it.next();
      if (m.done === true) break;
      c.socket.write(frame(m.value));
    }
    await expect(push([])).resolves.toBe(`error ${status.RESOURCE_EXHAUSTED}: ${PER_CLIENT}`);

    // Now it goes silent; two new pushes at once: one replaces it, the other is refused.
    await sleep(REPLACE_AFTER_MS + 500);
    const refused = `error ${status.RESOURCE_EXHAUSTED}: ${PER_CLIENT}`;
    let both = await Promise.all([push([]), push([])]);
    // Both refused: the agent was still reading what came before the silence (as in the test above).
    for (const until = Date.now() + 20_000; both.every((b) => b === refused) && Date.now() < until; ) {
      await sleep(500);
      both = await Promise.all([push([]), push([])]);
    }
    expect(both.sort()).toEqual([refused, "imported 0"]);
    expect(refusal(await c.answer)?.code).toBe(status.CANCELLED);
    await it.return(undefined);
  }, 90_000);
});
