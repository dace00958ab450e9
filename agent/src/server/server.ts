import { readFile } from "node:fs/promises";
import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { agentProtoPath, FastAgentService, protoIncludeDir } from "@ros-rollback/proto";
import { AgentError } from "../errors.js";
import { tolerantDecoding } from "./decode.js";
import { applyFlowControl, type FlowControl } from "./flow-control.js";
import { GrpcHealth } from "./grpc-health.js";
import { addLazyReflection, type ReflectionLoader, type ReflectionParts } from "./lazy-reflection.js";
import { serveRawPush } from "./raw-push/connection.js";
import { listenShared, type SharedListener, type TlsMaterial } from "./raw-push/listener.js";
import { agentService, type ServiceDeps } from "./service.js";

export interface ServerOptions {
  readonly listen: string;
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string } | undefined;
  /** Plaintext; the config only allows it on loopback. */
  readonly insecure: boolean;
  /** Around every call of every service (metrics). */
  readonly interceptors?: readonly ServerInterceptor[];
  /** HTTP/2 receive windows and frame size; default DEFAULT_FLOW_CONTROL. */
  readonly flowControl?: FlowControl;
  /** Loads server reflection on its first call; default loadReflection. */
  readonly loadReflection?: ReflectionLoader;
}

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
  readonly port: number;
  readonly health: GrpcHealth;
  /** Stops accepting calls, waits briefly for running ones, then cuts them. */
  close(graceMs?: number): Promise<void>;
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
  const [ca, cert, key] = await Promise.all([
    read("caFile", opts.tls.caFile),
    read("certFile", opts.tls.certFile),
    read("keyFile", opts.tls.keyFile),
  ]);
  return { ca, cert, key };
}

export async function startServer(opts: ServerOptions, deps: ServiceDeps): Promise<RunningServer> {
  const server = new Server({
    "grpc.max_receive_message_length": 8 * 1024 * 1024,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    // The controller pings (keepalive) on idle connections too, to notice a dead link. grpc-js
    // 1.14 answers pings at any rate; the option states the policy should it start policing.
    "grpc.keepalive_permit_without_calls": 1,
    interceptors: [...(opts.interceptors ?? [])],
  });
  applyFlowControl(server, opts.flowControl);
  server.addService(tolerantDecoding(FastAgentService), agentService(deps));

  const health = new GrpcHealth({ "": "SERVING", "ros_rollback.v1.Agent": "SERVING" });
  health.addToServer(server);

  // Reflection lets grpcurl talk to the agent without the .proto at hand; loaded when first asked.
  addLazyReflection(server, opts.loadReflection ?? loadReflection, deps.log);

  let port: number;
  let shared: SharedListener | undefined;
  if (opts.insecure) {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(opts.listen, ServerCredentials.createInsecure(), (err, p) => {
        if (err)
          reject(new AgentError("FAILED_PRECONDITION", `cannot listen on ${opts.listen}: ${err.message}`));
        else resolve(p);
      });
    });
  } else {
    // One port, one TLS handshake: gRPC on h2, pushes' bytes on the raw channel (ALPN).
    shared = await listenShared(
      opts.listen,
      await readTlsMaterial(opts),
      server,
      (socket) => {
        serveRawPush(socket, deps.store, deps.log).catch((e: unknown) =>
          deps.log.error({ err: e }, "raw push connection failed"),
        );
      },
      (e) => deps.log.error({ err: e }, "agent listener error"),
    );
    port = shared.port;
  }
  const listener = shared;

  return {
    port,
    health,
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
