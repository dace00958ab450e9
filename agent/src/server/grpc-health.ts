import { status as grpcStatus, type Server, type ServiceDefinition } from "@grpc/grpc-js";
import { cut, MAX_QUOTED } from "../text/bounded.js";

/*
 * grpc.health.v1.Health without grpc-health-check: that package parses its .proto with
 * @grpc/proto-loader and protobufjs when imported, ~4 MB of the idle agent's RSS (issue 13) for
 * three messages of one field each. Same answers as its HealthImplementation (Check, Watch, List);
 * the messages are encoded here by hand.
 */

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

const CODE: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };
/** As grpc-health-check: List refuses to list more services than this. */
const LIST_LIMIT = 100;
const PATH = "/grpc.health.v1.Health/";

export class GrpcHealth {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>();

  constructor(initial: Readonly<Record<string, ServingStatus>>) {
    for (const [service, s] of Object.entries(initial)) this.statuses.set(service, s);
  }

  setStatus(service: string, s: ServingStatus): void {
    this.statuses.set(service, s);
    for (const w of this.watchers.get(service) ?? []) w(s);
  }

  addToServer(server: Server): void {
    server.addService(healthDefinition, {
      Check: (
        call: { request: { service: string } },
        cb: (e: { code: number; details: string } | null, r?: ServingStatus) => void,
      ) => {
        const s = this.statuses.get(call.request.service);
        if (s !== undefined) cb(null, s);
        else
          cb({
            code: grpcStatus.NOT_FOUND,
            details: `Health status unknown for service ${cut(call.request.service, MAX_QUOTED)}`,
          });
      },
      Watch: (call: {
        request: { service: string };
        write(s: ServingStatus): boolean;
        on(e: "cancelled", f: () => void): void;
      }) => {
        const service = call.request.service;
        const watcher = (s: ServingStatus) => {
          call.write(s);
        };
        const set = this.watchers.get(service) ?? new Set();
        this.watchers.set(service, set.add(watcher));
        call.on("cancelled", () => {
          const ws = this.watchers.get(service);
          ws?.delete(watcher);
          if (ws?.size === 0) this.watchers.delete(service);
        });
        call.write(this.statuses.get(service) ?? "SERVICE_UNKNOWN");
      },
      List: (_call: unknown, cb: (e: { code: number; details: string } | null, r?: Buffer) => void) => {
        if (this.statuses.size > LIST_LIMIT)
          return cb({ code: grpcStatus.RESOURCE_EXHAUSTED, details: "Too many services to list." });
        cb(null, encodeList(this.statuses));
      },
    });
  }
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** HealthCheckResponse: `status` (field 1, enum), omitted when UNKNOWN as proto3 does. */
function encodeStatus(s: ServingStatus): Buffer {
  const code = CODE[s];
  return Buffer.from(code === 0 ? [] : [0x08, code]);
}

/** HealthListResponse: `map<string, HealthCheckResponse> statuses = 1`, one entry message per service. */
function encodeList(statuses: ReadonlyMap<string, ServingStatus>): Buffer {
  const parts: Buffer[] = [];
  for (const [service, s] of statuses) {
    const key = Buffer.from(service, "utf8");
    const value = encodeStatus(s);
    const entry = Buffer.concat([
      Buffer.from([0x0a, ...varint(key.length)]),
      key,
      Buffer.from([0x12, ...varint(value.length)]),
      value,
    ]);
    parts.push(Buffer.from([0x0a, ...varint(entry.length)]), entry);
  }
  return Buffer.concat(parts);
}

/** HealthCheckRequest's `service` (field 1, string); other fields are skipped as protobuf does. */
export function decodeCheckRequest(b: Buffer): { service: string } {
  let service = "";
  let i = 0;
  const readVarint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = b[i++];
      if (byte === undefined || shift > 28) throw new Error("malformed HealthCheckRequest");
      v += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return v;
    }
  };
  while (i < b.length) {
    const tag = readVarint();
    const wire = tag & 7;
    if (wire === 0) readVarint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = readVarint();
      if (i + len > b.length) throw new Error("malformed HealthCheckRequest");
      if (tag >>> 3 === 1) service = b.toString("utf8", i, i + len);
      i += len;
    } else throw new Error("malformed HealthCheckRequest");
  }
  if (i > b.length) throw new Error("malformed HealthCheckRequest");
  return { service };
}

// grpc-js takes a falsy message for a missing one: requests decode to objects.
const noRequest = () => ({});
const empty = () => Buffer.alloc(0);

const healthDefinition: ServiceDefinition = {
  Check: {
    path: `${PATH}Check`,
    requestStream: false,
    responseStream: false,
    requestSerialize: empty,
    requestDeserialize: decodeCheckRequest,
    responseSerialize: encodeStatus,
    responseDeserialize: noRequest,
    originalName: "check",
  },
  Watch: {
    path: `${PATH}Watch`,
    requestStream: false,
    responseStream: true,
    requestSerialize: empty,
    requestDeserialize: decodeCheckRequest,
    responseSerialize: encodeStatus,
    responseDeserialize: noRequest,
    originalName: "watch",
  },
  List: {
    path: `${PATH}List`,
    requestStream: false,
    responseStream: false,
    requestSerialize: empty,
    requestDeserialize: noRequest,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: noRequest,
    originalName: "list",
  },
};
