import { credentials, loadPackageDefinition, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeCheckRequest, GrpcHealth } from "./grpc-health.js";

// The hand-encoded service against a client built from grpc-health-check's own health.proto.
type Cb<T> = (e: (Error & { code?: number; details?: string }) | null, r: T) => void;
interface HealthClient {
  check(req: { service: string }, cb: Cb<{ status: string }>): void;
  list(req: object, cb: Cb<{ statuses: Record<string, { status: string }> }>): void;
  watch(req: { service: string }): NodeJS.ReadableStream & { cancel(): void };
  close(): void;
}
const pkg = loadPackageDefinition(loadSync(protoPath, { enums: String, defaults: true })) as unknown as {
  grpc: {
    health: {
      v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => HealthClient };
    };
  };
};

let server: Server;
let client: HealthClient;
const health = new GrpcHealth({ "": "SERVING", "ros_rollback.v1.Agent": "SERVING" });

beforeAll(async () => {
  server = new Server();
  health.addToServer(server);
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
  );
  client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure());
});
afterAll(() => {
  client.close();
  server.forceShutdown();
});

const check = (service: string) =>
  new Promise<string>((ok, fail) => client.check({ service }, (e, r) => (e ? fail(e) : ok(r.status))));

describe("GrpcHealth", () => {
  it("answers Check for the known services and NOT_FOUND, bounded, for others", async () => {
    expect(await check("ros_rollback.v1.Agent")).toBe("SERVING");
    expect(await check("")).toBe("SERVING");
    const err = await check(`x${"y".repeat(100_000)}`).then(
      () => undefined,
      (e: Error & { code?: number; details?: string }) => e,
    );
    expect(err?.code).toBe(status.NOT_FOUND);
    expect(err?.details).toMatch(/^Health status unknown for service xy+/);
    expect(err?.details?.length).toBeLessThan(1_000);
  });

  it("Watch sends the status, then each change; SERVICE_UNKNOWN for an unknown service", async () => {
    const seen: string[] = [];
    const stream = client.watch({ service: "w" });
    const got = (n: number) =>
      new Promise<void>((ok) => {
        const on = (m: { status: string }) => {
          seen.push(m.status);
          if (seen.length === n) {
            stream.off("data", on);
            ok();
          }
        };
        stream.on("data", on);
      });
    await got(1);
    health.setStatus("w", "NOT_SERVING");
    await got(2);
    stream.on("error", () => {}); // the cancel below ends it with CANCELLED
    stream.cancel();
    expect(seen).toEqual(["SERVICE_UNKNOWN", "NOT_SERVING"]);
    expect(await check("w")).toBe("NOT_SERVING");
  });

  it("List names every service with its status", async () => {
    const r = await new Promise<{ statuses: Record<string, { status: string }> }>((ok, fail) =>
      client.list({}, (e, x) => (e ? fail(e) : ok(x))),
    );
    expect(r.statuses[""]?.status).toBe("SERVING");
    expect(r.statuses["ros_rollback.v1.Agent"]?.status).toBe("SERVING");
  });

  it("refuses a malformed request instead of guessing", () => {
    expect(() => decodeCheckRequest(Buffer.from([0x0a, 0x05, 0x61]))).toThrow(/malformed/);
    expect(() => decodeCheckRequest(Buffer.from([0x0b]))).toThrow(/malformed/);
    // An unknown field is skipped, as protobuf does.
    expect(decodeCheckRequest(Buffer.from([0x10, 0x01, 0x0a, 0x01, 0x61]))).toEqual({ service: "a" });
  });
});
