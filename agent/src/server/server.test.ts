import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { credentials, loadPackageDefinition, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { SubstituteProgress } from "@ros-rollback/proto";
import { agentClient } from "@ros-rollback/proto/clients";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { describe, expect, it } from "vitest";
import { deadline, useDeployingServer } from "../testing/deploying-server.js";
import { probeHttp2 } from "../testing/http2-probe.js";
import { DEFAULT_FLOW_CONTROL } from "./flow-control.js";

process.env.NIX_CONFIG = "build-users-group =";
const require = createRequire(import.meta.url);
const hash = "0".repeat(32);

// The agent's gRPC server over mutual TLS on 127.0.0.1 (testing/deploying-server.ts):
// the handshake, the store RPCs, health and reflection, HTTP/2 flow control.
const srv = useDeployingServer();

describe("agent gRPC server over mutual TLS", () => {
  it("answers GetStatus and QueryMissingPaths to a client of the right CA", async () => {
    const c = srv.client();
    const st = await new Promise((res, rej) =>
      c.getStatus({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
    );
    expect(st).toMatchObject({ agentVersion: "test", currentGeneration: 0 });
    const missing = await new Promise((res, rej) =>
      c.queryMissingPaths(
        { storePaths: [`/nix/store/${hash}-present`, `/nix/store/${hash}-absent`] },
        (e, r) => (e ? rej(e) : res(r)),
      ),
    );
    expect(missing).toEqual({ missing: [`/nix/store/${hash}-absent`] });
    c.close();
  });

  it("streams Substitute progress to the end; an untrusted path is PERMISSION_DENIED with code UNTRUSTED", async () => {
    const c = srv.client();
    const stream = (p: string) =>
      new Promise<{ progress: SubstituteProgress[]; error?: ServiceError }>((resolve) => {
        const progress: SubstituteProgress[] = [];
        const s = c.substitute({ storePaths: [p] });
        s.on("data", (m: SubstituteProgress) => progress.push(m));
        s.on("error", (error: ServiceError) => resolve({ progress, error }));
        s.on("end", () => resolve({ progress }));
      });
    const ok = await stream(`/nix/store/${hash}-fine`);
    expect(ok.error).toBeUndefined();
    expect(ok.progress.map((m) => [m.pathsDone, m.narBytesDone, m.done])).toEqual([
      [0, 0, false],
      [1, 10, true],
    ]);
    const refused = await stream(`/nix/store/${hash}-untrusted`);
    expect(refused.progress).toHaveLength(1);
    expect(refused.error?.code).toBe(status.PERMISSION_DENIED);
    expect(refused.error?.metadata.get("ros-rollback-error-code")).toEqual(["UNTRUSTED"]);
    c.close();
  });

  it("refuses a client certificate from another CA at the handshake", async () => {
    const c = srv.client(srv.pki.rogueCert, srv.pki.rogueKey);
    const err = await new Promise<ServiceError>((res) =>
      c.getStatus({}, new Metadata(), deadline(), (e) => res(e as ServiceError)),
    );
    expect(err.code).toBe(status.UNAVAILABLE);
    c.close();
  });

  it("refuses a client without a certificate", async () => {
    const c = new (agentClient())(
      `127.0.0.1:${srv.server.port}`,
      credentials.createSsl(readFileSync(srv.pki.caFile)),
      {
        "grpc.ssl_target_name_override": "localhost",
      },
    );
    const err = await new Promise<ServiceError>((res) =>
      c.getStatus({}, new Metadata(), deadline(), (e) => res(e as ServiceError)),
    );
    expect(err.code).toBe(status.UNAVAILABLE);
    c.close();
  });

  it("serves grpc.health.v1.Health and server reflection", async () => {
    const creds = credentials.createSsl(
      readFileSync(srv.pki.caFile),
      readFileSync(srv.pki.clientKey),
      readFileSync(srv.pki.clientCert),
    );
    const opts = { "grpc.ssl_target_name_override": "localhost" };
    type Ctor = new (
      addr: string,
      c: typeof creds,
      o: typeof opts,
    ) => {
      check: (req: object, cb: (e: Error | null, r: { status: string }) => void) => void;
      close: () => void;
    };
    const health = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: Ctor } } };
    };
    const hc = new health.grpc.health.v1.Health(`127.0.0.1:${srv.server.port}`, creds, opts);
    const res = await new Promise<{ status: string }>((ok, fail) =>
      hc.check({ service: "ros_rollback.v1.Agent" }, (e, r) => (e ? fail(e) : ok(r))),
    );
    expect(res.status).toBe("SERVING");
    hc.close();

    const reflectionProto = require.resolve(
      "@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto",
    );
    const refl = loadPackageDefinition(loadSync(reflectionProto)) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              a: string,
              c: typeof creds,
              o: typeof opts,
            ) => {
              serverReflectionInfo: () => NodeJS.ReadWriteStream & {
                end: () => void;
                write: (m: object) => boolean;
              };
              close: () => void;
            };
          };
        };
      };
    };
    const rc = new refl.grpc.reflection.v1.ServerReflection(`127.0.0.1:${srv.server.port}`, creds, opts);
    const stream = rc.serverReflectionInfo();
    const answer = new Promise<{ listServicesResponse?: { service: { name: string }[] } }>((ok, fail) => {
      stream.on("data", ok);
      stream.on("error", fail);
    });
    stream.write({ listServices: "" });
    const names = (await answer).listServicesResponse?.service.map((s) => s.name) ?? [];
    stream.end();
    rc.close();
    expect(names).toContain("ros_rollback.v1.Agent");
    expect(names).toContain("grpc.health.v1.Health");
  });
});

describe("startServer's HTTP/2 flow control", () => {
  it("grants clients the wide windows and frames (a push is not capped at 64 KiB per round trip)", async () => {
    const got = await probeHttp2(srv.server.port, srv.pki);
    expect(got.initialWindowSize).toBe(DEFAULT_FLOW_CONTROL.streamWindow);
    expect(got.maxFrameSize).toBe(DEFAULT_FLOW_CONTROL.maxFrameSize);
    expect(got.connectionWindow).toBe(DEFAULT_FLOW_CONTROL.connectionWindow);
  });
});
