import { createRequire } from "node:module";
import {
  credentials,
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { addLazyReflection, type ReflectionLoader } from "./lazy-reflection.js";
import { loadReflection } from "./server.js";

const require = createRequire(import.meta.url);

interface ReflectionClient {
  serverReflectionInfo(): NodeJS.ReadWriteStream & { write(m: object): boolean; end(): void };
  close(): void;
}
type ClientCtor = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => ReflectionClient;

const client = (version: "v1" | "v1alpha", port: number): ReflectionClient => {
  const proto = require.resolve(`@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`);
  const pkg = loadPackageDefinition(loadSync(proto)) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: ClientCtor }> };
  };
  const ctor = pkg.grpc.reflection[version]?.ServerReflection;
  if (ctor === undefined) throw new Error(`no ${version} client`);
  return new ctor(`127.0.0.1:${port}`, credentials.createInsecure());
};

/** listServices over one stream: the service names, or the call's error. */
async function listServices(c: ReflectionClient): Promise<string[]> {
  const stream = c.serverReflectionInfo();
  const answer = new Promise<{ listServicesResponse?: { service: { name: string }[] } }>((ok, fail) => {
    stream.on("data", ok);
    stream.on("error", fail);
  });
  stream.write({ listServices: "" });
  try {
    return (await answer).listServicesResponse?.service.map((s) => s.name) ?? [];
  } finally {
    stream.end();
  }
}

let server: Server | undefined;
afterEach(() => {
  server?.forceShutdown();
  server = undefined;
});

async function serve(load: ReflectionLoader): Promise<number> {
  server = new Server();
  addLazyReflection(server, load, pino({ level: "silent" }));
  const s = server;
  return new Promise((ok, fail) =>
    s.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, port) => (e ? fail(e) : ok(port))),
  );
}

describe("server reflection, loaded on its first call", () => {
  it("loads nothing until asked, then once, and answers v1 and v1alpha", async () => {
    let loads = 0;
    const port = await serve(() => {
      loads += 1;
      return loadReflection();
    });
    expect(loads).toBe(0);
    const v1 = client("v1", port);
    const alpha = client("v1alpha", port);
    const [a, b] = await Promise.all([listServices(v1), listServices(alpha)]);
    expect(a).toContain("ros_rollback.v1.Agent");
    expect(b).toContain("grpc.health.v1.Health");
    expect(await listServices(v1)).toContain("ros_rollback.v1.Agent");
    expect(loads).toBe(1);
    v1.close();
    alpha.close();
  });

  it("a failed load ends the call with an error status; the next call loads again", async () => {
    let loads = 0;
    const port = await serve(() => {
      loads += 1;
      return loads === 1 ? Promise.reject(new Error("boom")) : loadReflection();
    });
    const c = client("v1", port);
    const err = await listServices(c).then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );
    expect(err?.code).toBe(13); // INTERNAL: an unexpected error, logged
    expect(await listServices(c)).toContain("ros_rollback.v1.Agent");
    expect(loads).toBe(2);
    c.close();
  });
});
