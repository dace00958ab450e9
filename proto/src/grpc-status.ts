// gRPC status codes (a fixed standard), without loading grpc-js: code that only names or
// compares codes (the controller's outcome and follow code) stays free of grpc-js and node:http2.

/** The standard gRPC status codes, as grpc-js's `status` enum numbers them. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GrpcStatus;

const NAMES: ReadonlyMap<number, GrpcStatusName> = new Map(
  (Object.keys(GrpcStatus) as GrpcStatusName[]).map((name) => [GrpcStatus[name], name]),
);

/** "NOT_FOUND" for 5; undefined for a number that is no standard code. */
export function grpcStatusName(code: number): GrpcStatusName | undefined {
  return NAMES.get(code);
}

/** One of the standard codes (a number from the wire may be none: see grpcStatusName). */
export type GrpcStatus = (typeof GrpcStatus)[GrpcStatusName];
