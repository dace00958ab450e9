import { readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { agentProtoPath, FastAgentService, protoIncludeDir } from "@ros-rollback/proto";
import type { AccessGate } from "../access/gate.js";
import { socketIdentity } from "../access/identity.js";
import type { AuditEvent, Auditor } from "../audit/auditor.js";
import { AgentError, asAgentError } from "../errors.js";
import type { StorePort } from "../store/store-port.js";
import { accessInterceptor } from "./access-interceptor.js";
import { tolerantDecoding } from "./decode.js";
import { applyFlowControl, type FlowControl } from "./flow-control.js";
import { GrpcHealth } from "./grpc-health.js";
import { addLazyReflection, type ReflectionLoader, type ReflectionParts } from "./lazy-reflection.js";
import { listenShared, type SharedListener, type TlsMaterial } from "./listener.js";
import { refuseRawPush, serveRawPush } from "./raw-push/connection.js";
import { agentService, type ServiceDeps } from "./service.js";

export interface ServerOptions {
  /** undefined: no port; connections arrive only through relays (`inject`). */
  readonly listen: string | undefined;
  readonly tls:
    | {
        readonly caFile: string;
        readonly certFile: string;
        readonly keyFile: string;
        readonly crlFile?: string | undefined;
      }
    | undefined;
  /** Plaintext; the config only allows it on loopback. */
  readonly insecure: boolean;
  /** Around every call of every service (metrics). */
  readonly interceptors?: readonly ServerInterceptor[];
  /** HTTP/2 receive windows and frame size; default DEFAULT_FLOW_CONTROL. */
  readonly flowControl?: FlowControl;
  /** $GRPC_SSL_CIPHER_SUITES: an OpenSSL cipher list for the TLS listener, as grpc-js takes it. */
  readonly cipherSuites?: string | undefined;
  /** Each push when it ends: over the raw channel or PushPaths, and whether it succeeded (metrics). */
  readonly onPush?: (transport: "raw" | "grpc", ok: boolean) => void;
  /** Loads server reflection on its first call; default loadReflection. */
  readonly loadReflection?: ReflectionLoader;
  /** Who may call what (gRPC and the raw push channel alike); default: everyone with a certificate, everything. */
  readonly access?: AccessGate;
  /** The audit log: refusals, and admission and outcome of every mutation (with `access`). */
  readonly audit?: Auditor;
}

/** The raw push channel is PushPaths by other means: the same rule. */
const RAW_PUSH_PATH = "/ros_rollback.v1.Agent/PushPaths";

/** @grpc/reflection over the agent's and the health service's .proto files, as it adds itself to a server. */
export async function loadReflection(): Promise<readonly ReflectionParts[]> {
  const [{ loadSync }, { ReflectionService }, { protoPath: healthProtoPath }] = await Promise.all([
    import("@grpc/proto-loader"),
    import("@grpc/reflection"),
    import("grpc-health-check"),
  ]);
  const pkg = loadSync([agentProtoPath(), healthProtoPath], {
    includeDirs: [protoIncludeDir()],
    keepCase: true,
  });
  const parts: ReflectionParts[] = [];
  new ReflectionService(pkg).addToServer({
    addService: (
      definition: ReflectionParts["definition"],
      implementation: ReflectionParts["implementation"],
    ) => {
      parts.push({ definition, implementation });
    },
  } as unknown as Server);
  return parts;
}

export interface RunningServer {
  /** 0 when nothing listens. */
  readonly port: number;
  /** A relay's stream, served like a connection to the port (TLS, then gRPC or the raw channel). */
  inject(stream: Duplex): void;
  readonly health: GrpcHealth;
  /**
   * Reads the TLS files again for the handshakes from now on (running calls and
   * deployments go on). A file that cannot be read or material that does not
   * fit keeps the old and rejects with why.
   */
  reloadTls(): Promise<void>;
  /** Stops accepting calls, waits briefly for running ones, then cuts them. */
  close(graceMs?: number): Promise<void>;
}

/** `store` with its pushes reported to `onPush` as they end (its other methods as they are). */
function countPushes(
  store: StorePort,
  transport: "raw" | "grpc",
  onPush: ServerOptions["onPush"],
): StorePort {
  if (onPush === undefined) return store;
  const counted: Pick<StorePort, "receivePush"> = {
    // Every argument passed on as is: dropping one (the progress counts) once silenced PROGRESS.
    receivePush: (...args) => {
      const push = store.receivePush(...args);
      push.then(
        () => onPush(transport, true),
        () => onPush(transport, false),
      );
      return push;
    },
  };
  return Object.assign(Object.create(store) as StorePort, counted);
}

/** `store`'s receivePush with its admission (on disk before it starts) and outcome in the audit log. */
function auditedPush(
  store: StorePort,
  audit: Auditor | undefined,
  base: Pick<AuditEvent, "rpc" | "identity" | "peer">,
): Pick<StorePort, "receivePush"> {
  if (audit === undefined) return store;
  return {
    receivePush: async (...args) => {
      await audit.record({ ...base, admission: "allowed" });
      try {
        const res = await store.receivePush(...args);
        await audit.record({
          ...base,
          admission: "allowed",
          outcome: "OK",
          args: { imported: res.imported.length },
        });
        return res;
      } catch (e) {
        const outcome = asAgentError(e)?.code ?? "INTERNAL";
        await audit.record({ ...base, admission: "allowed", outcome, detail: (e as Error).message });
        throw e;
      }
    },
  };
}

/** TLS that requires a client certificate chaining to the configured CA (grpc-js's own listener). */
export async function serverCredentials(opts: ServerOptions): Promise<ServerCredentials> {
  if (opts.insecure) return ServerCredentials.createInsecure();
  const { ca, cert, key } = await readTlsMaterial(opts);
  return ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], true);
}

/** The configured CA, certificate and key, read. */
async function readTlsMaterial(opts: ServerOptions): Promise<TlsMaterial> {
  if (opts.tls === undefined) throw new AgentError("INVALID_ARGUMENT", "tls is required");
  const read = async (what: string, file: string) => {
    try {
      return await readFile(file);
    } catch (cause) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        `cannot read tls.${what} ${file}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  };
  const crlFile = opts.tls.crlFile;
  const [ca, cert, key, crl] = await Promise.all([
    read("caFile", opts.tls.caFile),
    read("certFile", opts.tls.certFile),
    read("keyFile", opts.tls.keyFile),
    crlFile === undefined ? undefined : read("crlFile", crlFile),
  ]);
  return { ca, cert, key, crl };
}

export async function startServer(opts: ServerOptions, deps: ServiceDeps): Promise<RunningServer> {
  const server = new Server({
    "grpc.max_receive_message_length": 8 * 1024 * 1024,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    // The controller pings (keepalive) on idle connections too, to notice a dead link. grpc-js
    // 1.14 answers pings at any rate; the option states the policy should it start policing.
    "grpc.keepalive_permit_without_calls": 1,
    // Access last: the outermost, so the metrics' interceptor sees its refusals.
    interceptors: [
      ...(opts.interceptors ?? []),
      ...(opts.access === undefined ? [] : [accessInterceptor(opts.access, deps.log, opts.audit)]),
    ],
  });
  applyFlowControl(server, opts.flowControl);
  server.addService(
    tolerantDecoding(FastAgentService),
    agentService({ ...deps, store: countPushes(deps.store, "grpc", opts.onPush) }),
  );
  const rawStore = countPushes(deps.store, "raw", opts.onPush);

  const health = new GrpcHealth({ "": "SERVING", "ros_rollback.v1.Agent": "SERVING" });
  health.addToServer(server);

  // Reflection lets grpcurl talk to the agent without the .proto at hand; loaded when first asked.
  addLazyReflection(server, opts.loadReflection ?? loadReflection, deps.log);

  let port: number;
  let shared: SharedListener | undefined;
  if (opts.insecure) {
    const listen = opts.listen;
    if (listen === undefined) throw new AgentError("INVALID_ARGUMENT", "insecure needs listen");
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(listen, ServerCredentials.createInsecure(), (err, p) => {
        if (err) reject(new AgentError("FAILED_PRECONDITION", `cannot listen on ${listen}: ${err.message}`));
        else resolve(p);
      });
    });
  } else {
    // One port, one TLS handshake: gRPC on h2, pushes' bytes on the raw channel (ALPN).
    shared = await listenShared(
      opts.listen,
      { ...(await readTlsMaterial(opts)), ciphers: opts.cipherSuites },
      server,
      (socket) => {
        const id = socketIdentity(socket);
        const denial = opts.access?.admit(RAW_PUSH_PATH, id);
        const base = {
          rpc: "PushPaths (raw)",
          identity: id,
          peer: `${socket.remoteAddress}:${socket.remotePort}`,
        };
        if (denial !== undefined) {
          socket.pause();
          const recorded = opts.audit?.record({
            ...base,
            admission: "denied",
            role: denial.role,
            outcome: "PermissionDenied",
            detail: denial.error.message,
          });
          void (recorded ?? Promise.resolve()).then(() => refuseRawPush(socket, denial.error, deps.log));
          return;
        }
        serveRawPush(socket, auditedPush(rawStore, opts.audit, base), deps.log).catch((e: unknown) =>
          deps.log.error({ err: e }, "raw push connection failed"),
        );
      },
      (e) => deps.log.error({ err: e }, "agent listener error"),
      // A controller that connects while nothing is deployed is likely to ask the store soon (a
      // deploy: QueryMissingPaths beside its GetStatus): nix-store starts with its connection, not
      // after a first answer (issue 13). During a deployment it would only slow the Confirm's.
      () => {
        if (deps.deployer.active() === undefined) deps.store.prepareQuery();
      },
    );
    port = shared.port;
  }
  const listener = shared;

  return {
    port,
    health,
    reloadTls: async () => {
      if (listener === undefined) return;
      const material = { ...(await readTlsMaterial(opts)), ciphers: opts.cipherSuites };
      try {
        listener.reload(material);
      } catch (cause) {
        throw new AgentError("INVALID_ARGUMENT", `tls material not taken: ${(cause as Error).message}`, {
          cause,
        });
      }
    },
    inject: (stream) => {
      if (listener === undefined) stream.destroy();
      else listener.inject(stream);
    },
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        health.setStatus("", "NOT_SERVING");
        const closed = listener?.close(graceMs) ?? Promise.resolve();
        const timer = setTimeout(() => {
          server.forceShutdown();
          closed.then(resolve, resolve);
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          closed.then(resolve, resolve);
        });
      }),
  };
}
