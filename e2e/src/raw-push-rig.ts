import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { Server } from "@grpc/grpc-js";
import type { PushByteCounts, StorePort } from "@ros-rollback/agent/testing";
import {
  AgentError,
  listenShared,
  NixCliStore,
  type PushResult,
  receivePush,
  type SharedListener,
  serveRawPush,
} from "@ros-rollback/agent/testing";
import type { RawPushEndpoint } from "@ros-rollback/controller/testing";
// The controller's half of the wire: the tests over this rig are the contract between the two.
import { computeClosure, pushRequests } from "@ros-rollback/controller/testing";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { diamondExpr, NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression, type PathInfo, type PushPathsRequest, RAW_PUSH_ALPN_V1 } from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { HealthImplementation } from "grpc-health-check";
import pino from "pino";

export const signal = (): AbortSignal => AbortSignal.timeout(60_000);

/**
 * The agent's shared listener (gRPC with only the health service, and the
 * raw push channel) on 127.0.0.1:0 with the test PKI, a real Nix store behind
 * the raw channel (a new one per `newRobot`), and a signed closure to push.
 */
export class RawPushRig {
  /** Each push the agent received, as it settled. */
  readonly pushes: Promise<PushResult>[] = [];
  private robots = 0;
  private robot: { store: NixCliStore; uri: string; trusted: boolean } | undefined;
  private listener: SharedListener | undefined;
  /** What the listener serves pushes with (another listener may share it). */
  pushStore: Pick<StorePort, "receivePush"> = {
    receivePush: () => Promise.reject(new Error("not listening")),
  };
  private readonly grpc = new Server();
  /** The agent reads the whole push, then never answers (until the connection goes). */
  silent = false;

  private constructor(
    private readonly tmp: string,
    readonly pki: TestPki,
    readonly fx: NixFixture,
    readonly closure: PathInfo[],
  ) {}

  static async start(name: string): Promise<RawPushRig> {
    const tmp = mkdtempSync(join(tmpdir(), "rr-raw-push-"));
    const fx = await NixFixture.create();
    const top = await fx.build(diamondExpr(name));
    await fx.sign(top);
    const closure = await computeClosure(top, signal(), { storeUri: fx.sourceStore, env: fx.env });
    const rig = new RawPushRig(tmp, makeTestPki(join(tmp, "pki")), fx, closure);
    await rig.listen();
    return rig;
  }

  private async listen(): Promise<void> {
    new HealthImplementation({ "": "SERVING" }).addToServer(this.grpc);
    const tls = {
      ca: readFileSync(this.pki.caFile),
      cert: readFileSync(this.pki.serverCert),
      key: readFileSync(this.pki.serverKey),
    };
    const store: Pick<StorePort, "receivePush"> = {
      receivePush: (
        requests: AsyncIterable<PushPathsRequest>,
        sig: AbortSignal,
        progress?: PushByteCounts,
      ) => {
        const r = this.current();
        const trustedKeys = r.trusted ? parseTrustedKeys([this.fx.publicKey]) : [];
        const p = this.silent
          ? drainThenWait(requests, sig)
          : receivePush(requests, { store: r.store, trustedKeys, observer: progress }, sig);
        this.pushes.push(p);
        return p;
      },
    };
    this.pushStore = store;
    const log = pino({ level: "silent" });
    this.listener = await listenShared("127.0.0.1:0", tls, this.grpc, (socket) => {
      serveRawPush(socket, store, log).catch(() => undefined);
    });
  }

  get port(): number {
    return this.listener?.port ?? 0;
  }

  /** A new empty store to push into; `trusted` false: the agent trusts no key. */
  newRobot(trusted = true): void {
    const uri = this.fx.store(`raw-${++this.robots}`);
    this.robot = { store: new NixCliStore({ storeUri: uri, env: this.fx.env }), uri, trusted };
  }

  private current(): { store: NixCliStore; uri: string; trusted: boolean } {
    if (this.robot === undefined) throw new Error("newRobot() first");
    return this.robot;
  }

  get storeUri(): string {
    return this.current().uri;
  }

  /** The closure's paths valid in the current robot's store. */
  valid(): Promise<string[]> {
    return this.fx.validAmong(
      this.closure.map((i) => i.storePath),
      this.current().uri,
    );
  }

  endpoint(client = { cert: this.pki.clientCert, key: this.pki.clientKey }): RawPushEndpoint {
    return {
      address: `127.0.0.1:${this.port}`,
      serverName: "localhost",
      ca: readFileSync(this.pki.caFile),
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
    };
  }

  /** The controller's inventory entry for this agent (its AgentApi takes the raw channel itself). */
  target() {
    return {
      name: "robot1",
      address: `127.0.0.1:${this.port}`,
      caFile: this.pki.caFile,
      certFile: this.pki.clientCert,
      keyFile: this.pki.clientKey,
      serverName: "localhost",
      labels: {},
    };
  }

  requests(
    infos: readonly PathInfo[] = this.closure,
    compression = Compression.COMPRESSION_NONE,
  ): AsyncIterable<PushPathsRequest> {
    const nix = { storeUri: this.fx.sourceStore, env: this.fx.env };
    return pushRequests(infos, { compression, nix }, signal());
  }

  /** A raw channel connection by hand; `answer` is all the agent wrote back, once it closed. */
  openRaw(alpn = RAW_PUSH_ALPN_V1): { socket: TLSSocket; answer: Promise<Buffer> } {
    const e = this.endpoint();
    const socket = connect({
      port: this.port,
      host: "127.0.0.1",
      servername: "localhost",
      ca: e.ca,
      cert: e.cert,
      key: e.key,
      ALPNProtocols: [alpn],
    });
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => undefined);
    const answer = new Promise<Buffer>((resolve) => socket.on("close", () => resolve(Buffer.concat(chunks))));
    return { socket, answer };
  }

  async closeListener(graceMs = 0): Promise<void> {
    await this.listener?.close(graceMs);
  }

  async close(): Promise<void> {
    await this.closeListener();
    this.grpc.forceShutdown();
    await this.fx.cleanup();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

async function drainThenWait(requests: AsyncIterable<PushPathsRequest>, signal: AbortSignal): Promise<never> {
  for await (const _ of requests);
  return new Promise<never>((_, reject) => {
    signal.addEventListener("abort", () => reject(new AgentError("ABORTED", "push aborted")), { once: true });
  });
}
