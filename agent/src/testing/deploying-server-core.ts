import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import type { AgentClient } from "@ros-rollback/proto";
import { agentClient } from "@ros-rollback/proto/clients";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import type { Deployer } from "../deployment/deployer.js";
import { AgentError } from "../errors.js";
import { compileHealthConfig } from "../health/index.js";
import type { Holds } from "../holds/holds.js";
import type { RunningServer } from "../server/server.js";
import type { StorePort } from "../store/store-port.js";
import { FakeSwitchRunner, FakeSystemInspector } from "./fakes.js";
import { realPlanner, tmpHolds } from "./holds.js";
import { addTestSystem, startProfileDeployer } from "./profile-deployer.js";
import { HEALTHY_SNAPSHOT, startTestServer } from "./server-rig.js";

const log = pino({ level: "silent" });

const fakeStore: StorePort = {
  queryMissing: async (paths) => paths.filter((p) => !p.includes("present")),
  prepareQuery: () => undefined,
  querySubstitutable: async (paths) => ({
    paths: paths.map((storePath) => ({ storePath, cacheUrl: "http://cache", narSize: 10, fileSize: 5 })),
    unreachable: [],
  }),
  // Two progress reports, then the end or (for an "untrusted" path) the refusal a real store gives.
  substitute: async (paths, _signal, onProgress) => {
    const base = { pathsTotal: paths.length, narBytesTotal: 10 * paths.length, pathsAlreadyValid: 0 };
    onProgress({ ...base, pathsDone: 0, narBytesDone: 0, done: false });
    if (paths.some((p) => p.includes("untrusted"))) {
      throw new AgentError("UNTRUSTED", `path ${paths[0]} is not signed`);
    }
    const last = { ...base, pathsDone: paths.length, narBytesDone: base.narBytesTotal, done: true };
    onProgress(last);
    return last;
  },
  receivePush: async () => ({ imported: [], skipped: [], narBytes: 0 }),
};

function validate(p: string): void {
  if (!/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/.test(p) || p.includes("..")) {
    throw new AgentError("INVALID_ARGUMENT", `not a store path: ${p}`);
  }
}

// No vitest here: a bench process runs it too (bench/relay/sim-robots.ts); the hook is in
// ./deploying-server.ts.

/**
 * The agent's gRPC server (testing/server-rig.ts) over a real Deployer with a
 * Nix profile, two systems added to the real Nix store (one whose unit never
 * finishes: the deployment stays busy), fake switching and health, and a fake
 * store that refuses "untrusted" paths.
 */
export class DeployingServer {
  #tmp: string | undefined;
  #pki: TestPki | undefined;
  #server: RunningServer | undefined;
  #systemPath: string | undefined;
  #slowPath: string | undefined;
  #deployer: Deployer | undefined;
  #holds: Holds | undefined;
  #inspector: FakeSystemInspector | undefined;

  get pki(): TestPki {
    return started(this.#pki);
  }
  get server(): RunningServer {
    return started(this.#server);
  }
  /** A system whose switch succeeds. */
  get systemPath(): string {
    return started(this.#systemPath);
  }
  /** A system whose unit never finishes. */
  get slowPath(): string {
    return started(this.#slowPath);
  }
  get holds(): Holds {
    return started(this.#holds);
  }

  /** Accepts `storePath` (another server's system, in the same Nix store) as a system to switch to. */
  knowSystem(storePath: string): void {
    started(this.#inspector).systems.add(storePath);
  }

  /** A client of the right CA (or with the certificate and key given). */
  client(cert = this.pki.clientCert, key = this.pki.clientKey): AgentClient {
    const creds = credentials.createSsl(readFileSync(this.pki.caFile), readFileSync(key), readFileSync(cert));
    return new (agentClient())(`127.0.0.1:${this.server.port}`, creds, {
      "grpc.ssl_target_name_override": "localhost",
    });
  }

  async start(): Promise<void> {
    const tmp = mkdtempSync(join(tmpdir(), "rr-server-"));
    this.#tmp = tmp;
    const pki = makeTestPki(join(tmp, "pki"));
    this.#pki = pki;
    const systemPath = addTestSystem(tmp, `srv-sys-${process.pid}`);
    const slowPath = addTestSystem(tmp, `srv-slow-${process.pid}`);
    const inspector = new FakeSystemInspector();
    inspector.systems.add(systemPath);
    inspector.systems.add(slowPath);
    this.#inspector = inspector;
    const switcher = new FakeSwitchRunner();
    // The "slow" system's unit never finishes within the test: the deployment stays busy.
    const slowSwitcher = Object.assign(Object.create(switcher) as FakeSwitchRunner, {
      status: async (unit: string) =>
        unit.includes("slow") || switcher.started.at(-1)?.systemPath === slowPath
          ? { exists: true, running: true, exitCode: undefined, detail: "running" }
          : switcher.status(unit),
    });
    const holds = tmpHolds(tmp);
    const { deployer, profile } = await startProfileDeployer(tmp, {
      log,
      system: inspector,
      holds,
      switcher: slowSwitcher,
      activationTimeoutMs: 60_000,
      health: compileHealthConfig({
        settleSeconds: 0,
        stableSeconds: 1,
        timeoutSeconds: 2,
        intervalSeconds: 0.05,
      }),
    });
    this.#deployer = deployer;
    this.#server = await startTestServer(pki, {
      deployer,
      profile,
      system: inspector,
      store: fakeStore,
      validateStorePath: validate,
      checkHealth: async (signal) => ({ ...(await HEALTHY_SNAPSHOT(signal)), reason: "fake" }),
      log,
      holds,
      planner: realPlanner(inspector),
    });
    this.#systemPath = systemPath;
    this.#slowPath = slowPath;
    this.#holds = holds;
  }

  async close(): Promise<void> {
    await this.#server?.close(100);
    await this.#deployer?.close();
    if (this.#tmp !== undefined) rmSync(this.#tmp, { recursive: true, force: true });
  }
}

function started<T>(v: T | undefined): T {
  if (v === undefined) throw new Error("the server is not started (use it inside a test or hook)");
  return v;
}
