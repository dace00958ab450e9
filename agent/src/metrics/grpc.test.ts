import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import { AgentService } from "@ros-rollback/proto";
import { HealthImplementation, service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcMetricsInterceptor, initGrpcMetrics, methodLabels } from "./grpc.js";
import { type AgentMetrics, createAgentMetrics } from "./registry.js";
import { metricValue } from "./testing.js";

type Unary = (req: object, cb: (e: ServiceError | null, res?: { status: number }) => void) => void;
type Stream = (req: object) => NodeJS.EventEmitter & { cancel(): void };

let m: AgentMetrics;
let server: Server;
let client: Client & { check: Unary; watch: Stream };

beforeAll(async () => {
  m = createAgentMetrics({ version: "0", defaultMetrics: false });
  server = new Server({ interceptors: [grpcMetricsInterceptor(m)] });
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const Ctor = makeGenericClientConstructor(healthService, "Health");
  client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as typeof client;
});
afterAll(() => {
  client.close();
  server.forceShutdown();
});

const health = { grpc_service: "grpc.health.v1.Health" };

describe("gRPC server metrics (a real server and client on 127.0.0.1)", () => {
  it("counts started and handled calls by method, type and code, and times them", async () => {
    await new Promise<void>((resolve, reject) =>
      client.check({ service: "" }, (e) => (e ? reject(e) : resolve())),
    );
    const err = await new Promise<ServiceError | null>((resolve) =>
      client.check({ service: "nope" }, (e) => resolve(e)),
    );
    expect(err?.code).toBe(5);
    const check = { ...health, grpc_method: "Check", grpc_type: "unary" };
    expect(await metricValue(m.registry, "grpc_server_started_total", check)).toBe(2);
    expect(await metricValue(m.registry, "grpc_server_handled_total", { ...check, grpc_code: "OK" })).toBe(1);
    expect(
      await metricValue(m.registry, "grpc_server_handled_total", { ...check, grpc_code: "NotFound" }),
    ).toBe(1);
    expect(await metricValue(m.registry, "grpc_server_handling_seconds_count", check)).toBe(2);
    expect(await metricValue(m.registry, "grpc_server_msg_received_total", check)).toBe(2);
    expect(await metricValue(m.registry, "grpc_server_msg_sent_total", check)).toBe(1);
  });

  it("ends a server stream the client cancels as Canceled", async () => {
    const call = client.watch({ service: "" });
    await new Promise((resolve) => call.once("data", resolve));
    call.on("error", () => {});
    call.cancel();
    const watch = { ...health, grpc_method: "Watch", grpc_type: "server_stream" };
    for (let i = 0; i < 100; i++) {
      if (
        (await metricValue(m.registry, "grpc_server_handled_total", { ...watch, grpc_code: "Canceled" })) ===
        1
      )
        break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(
      await metricValue(m.registry, "grpc_server_handled_total", { ...watch, grpc_code: "Canceled" }),
    ).toBe(1);
    expect(await metricValue(m.registry, "grpc_server_msg_sent_total", watch)).toBe(1);
  });

  it("labels every Agent method and starts its series at 0", async () => {
    initGrpcMetrics(m, AgentService);
    const labels = Object.values(AgentService).map(methodLabels);
    expect(labels).toContainEqual({
      grpc_service: "ros_rollback.v1.Agent",
      grpc_method: "PushPaths",
      grpc_type: "client_stream",
    });
    expect(labels).toContainEqual({
      grpc_service: "ros_rollback.v1.Agent",
      grpc_method: "Activate",
      grpc_type: "server_stream",
    });
    for (const l of labels) {
      expect(await metricValue(m.registry, "grpc_server_handled_total", { ...l, grpc_code: "OK" })).toBe(0);
    }
  });
});
