import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  createLogger,
  createStorePort,
  DeployerLab,
  MAX_ENCODED_MESSAGE,
  type RunningServer,
  realPlanner,
  startServer,
  testClient,
  tmpHolds,
} from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { NIX_BASE32_ALPHABET, parseSecretKey, signPath } from "@ros-rollback/nix-core";
import { diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import {
  type AgentClient,
  Compression,
  type PathInfo,
  type PushPathsRequest,
  type PushPathsResponse,
} from "@ros-rollback/proto";
import { issueClientCert, makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Real gRPC over mutual TLS, the real store adapter on a real (chroot) Nix store.

const MAX_SKIPPED = 1024 * 1024;
const IDLE_MS = 4_000;
let tmp: string;
let pki: TestPki;
let fx: NixFixture;
let lab: DeployerLab;
let server: RunningServer;
const closures: PathInfo[][] = [];
const wireChunks: number[] = [];
let narBytes = 0;
const logLines: string[] = [];
let sign: (i: PathInfo) => PathInfo;

const signal = () => AbortSignal.timeout(60_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });
const NONE = Compression.COMPRESSION_NONE;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-bounds-"));
  pki = makeTestPki(join(tmp, "pki"));
  fx = await NixFixture.create();
  for (const tag of ["bounds-a", "bounds-b"]) {
    const top = await fx.build(diamondExpr(tag));
    await fx.sign(top);
    closures.push(await computeClosure(top, signal(), nix()));
  }
  const key = parseSecretKey(await readFile(fx.secretKeyFile, "utf8"));
  sign = (i) => ({ ...i, signatures: [signPath(i, key)] });
  lab = new DeployerLab();
  await lab.setup();
  const rig = await lab.rig("bounds");
  const log = createLogger("info", undefined, { write: (line: string) => void logLines.push(line) });
  const store = createStorePort({
    storeDir: "/nix/store",
    nixBinDir: undefined,
    storeUri: fx.store("robot"),
    env: fx.env,
    trustedPublicKeys: [fx.publicKey],
    log,
    observer: {
      wireBytes: () => void wireChunks.push(1),
      narBytes: (n) => {
        narBytes += n;
      },
    },
    maxConcurrentPushes: 2,
    maxSkippedBytes: MAX_SKIPPED,
    pushIdleTimeoutMs: IDLE_MS,
  });
  server = await startServer(
    {
      listen: "127.0.0.1:0",
      tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey },
      insecure: false,
    },
    {
      version: "test",
      deployer: rig.deployer,
      profile: rig.profile,
      system: rig.system,
      store,
      validateStorePath: store.validateStorePath,
      checkHealth: () => Promise.reject(new Error("not in this test")),
      log,
      holds: tmpHolds(tmp),
      planner: realPlanner(rig.system),
    },
  );
}, 120_000);

afterAll(async () => {
  await server?.close(100);
  await lab?.teardown();
  await fx?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

/** `who`: another client certificate (push slots are per certificate). */
function client(who?: { readonly cert: string; readonly key: string }): AgentClient {
  return testClient(pki, server.port, {}, who);
}
const second = () => ({ cert: pki.client2Cert, key: pki.client2Key });

const deadline = () => ({ deadline: Date.now() + 10_000 });

/** A PushPaths call fed by hand; `result` settles with the response or the status. */
function push(c: AgentClient) {
  let result!: Promise<PushPathsResponse | ServiceError>;
  const call = (() => {
    let call: ReturnType<AgentClient["pushPaths"]> | undefined;
    result = new Promise((resolve) => {
      call = c.pushPaths(new Metadata(), deadline(), (e, r) => resolve(e ?? r));
    });
    return call as ReturnType<AgentClient["pushPaths"]>;
  })();
  return { call, result, write: (m: PushPathsRequest) => call.write(m) };
}

const messages = async (infos: PathInfo[]): Promise<PushPathsRequest[]> => {
  const out: PushPathsRequest[] = [];
  for await (const m of pushRequests(infos, { compression: NONE, nix: nix() }, signal())) out.push(m);
  return out;
};

const getStatus = (c: AgentClient) =>
  new Promise<unknown>((res, rej) =>
    c.getStatus({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
  );

const storePath = (i: number) =>
  `/nix/store/${Array.from({ length: 32 }, (_, k) => NIX_BASE32_ALPHABET[(i * 7 + k * 13) % 32]).join("")}-ref-${i}`;

describe("bounded answers over a real channel", () => {
  it("a push announcing 2,000 missing references: a short INVALID_ARGUMENT naming the count; the channel still answers", async () => {
    const c = client();
    const leaf = closures[0]?.[0] as PathInfo;
    const info = sign({ ...leaf, references: Array.from({ length: 2000 }, (_, i) => storePath(i)) });
    const p = push(c);
    p.write({ item: { $case: "options", value: { compression: NONE, totalNarSize: 0 } } });
    p.write({ item: { $case: "path", value: info } });
    p.write({ item: { $case: "chunk", value: { data: Buffer.alloc(64) } } });
    const err = (await p.result) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain("references 2000 paths:");
    expect(err.details).toContain(`${storePath(0)}", "${storePath(1)}", "${storePath(2)}" and 1997 more`);
    expect(encodeURI(err.details).length).toBeLessThanOrEqual(MAX_ENCODED_MESSAGE);
    await expect(getStatus(c)).resolves.toMatchObject({ agentVersion: "test" });
    c.close();
  });

  it("Confirm with a 200 kB id: a short INVALID_ARGUMENT, and a short log line", async () => {
    const c = client();
    logLines.length = 0;
    const id = `d-${"x".repeat(200_000)}`;
    const err = await new Promise<ServiceError | null>((res) =>
      c.confirm({ deploymentId: id }, new Metadata(), deadline(), (e) => res(e)),
    );
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/^deployment_id "d-x+… \(199938 more characters\)" \(200002 characters\)/);
    expect(err?.details.length).toBeLessThan(300);
    const refusal = logLines.find((l) => l.includes("request refused"));
    expect(refusal).toContain("200002 characters");
    expect(Math.max(...logLines.map((l) => l.length))).toBeLessThan(1_000);
    await expect(getStatus(c)).resolves.toMatchObject({ agentVersion: "test" });
    c.close();
  });

  it("a NAR size of 2^53 (beyond what the decoder takes) is INVALID_ARGUMENT, not INTERNAL", async () => {
    const c = client();
    const p = push(c);
    p.write({ item: { $case: "options", value: { compression: NONE, totalNarSize: 0 } } });
    p.write({ item: { $case: "path", value: { ...(closures[0]?.[0] as PathInfo), narSize: 2 ** 53 } } });
    const err = (await p.result) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^cannot decode the PushPaths request: .*MAX_SAFE_INTEGER/);
    c.close();
  });
});

describe("bounds on the work of pushes", () => {
  it("a third concurrent push (a third client) gets RESOURCE_EXHAUSTED while two run, which then complete", async () => {
    const c = client();
    const c2 = client(second());
    const c3 = client(issueClientCert(join(tmp, "pki"), "client3"));
    const [a, b] = [await messages(closures[0] ?? []), await messages(closures[1] ?? [])];
    const firstChunk = (ms: PushPathsRequest[]) => ms.findIndex((m) => m.item?.$case === "chunk") + 1;
    const running = [push(c), push(c2)];
    wireChunks.length = 0;
    // Each sends up to its first NAR chunk and waits: both hold a slot.
    for (const [i, ms] of [a, b].entries()) for (const m of ms.slice(0, firstChunk(ms))) running[i]?.write(m);
    while (wireChunks.length < 2) await new Promise((r) => setTimeout(r, 10));
    const third = push(c3);
    third.write({ item: { $case: "options", value: { compression: NONE, totalNarSize: 0 } } });
    const err = (await third.result) as ServiceError;
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain("2 pushes are running");
    expect(err.metadata.get("ros-rollback-error-code")).toEqual(["RESOURCE_EXHAUSTED"]);
    for (const [i, ms] of [a, b].entries()) {
      for (const m of ms.slice(firstChunk(ms))) running[i]?.write(m);
      running[i]?.call.end();
    }
    const done = await Promise.all(running.map((p) => p.result));
    expect(done.map((r) => (r as PushPathsResponse).imported)).toEqual(
      closures.map((cl) => cl.map((i) => i.storePath)),
    );
    for (const x of [c, c2, c3]) x.close();
  });

  it("already-valid paths beyond the byte limit are refused before their bytes are read", async () => {
    // closures[0] is on the robot now (the test above); its big path alone is over the limit.
    const c = client();
    const ms = await messages(closures[0] ?? []);
    const big = closures[0]?.find((i) => i.narSize > MAX_SKIPPED) as PathInfo;
    narBytes = 0;
    const p = push(c);
    for (const m of ms) p.write(m);
    p.call.end();
    const err = (await p.result) as ServiceError;
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain(`more than ${MAX_SKIPPED} NAR bytes of paths the robot already has`);
    expect(err.details).toContain(big.storePath);
    // Refused at the first buffer of the big path: its bytes were not decompressed.
    expect(narBytes).toBeLessThan(big.narSize);
    c.close();
  });

  it("a push that goes silent ends with DEADLINE_EXCEEDED and frees its slot", async () => {
    const c = client();
    const c2 = client(second());
    const silent = [push(c), push(c2)];
    for (const p of silent)
      p.write({ item: { $case: "options", value: { compression: NONE, totalNarSize: 0 } } });
    const errs = (await Promise.all(silent.map((p) => p.result))) as ServiceError[];
    for (const err of errs) {
      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(err.details).toBe(`the client sent nothing for ${IDLE_MS / 1000}s in the middle of a push`);
    }
    // Both slots are free again: an (empty) push is answered.
    const p = push(c);
    p.write({ item: { $case: "options", value: { compression: NONE, totalNarSize: 0 } } });
    p.call.end();
    await expect(p.result).resolves.toMatchObject({ imported: [] });
    c.close();
    c2.close();
  });
});
