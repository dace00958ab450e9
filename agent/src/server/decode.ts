import type { ServiceDefinition } from "@grpc/grpc-js";
import { AgentError } from "../errors.js";
import { cut, MAX_QUOTED } from "../text/bounded.js";

/** A request the protobuf decoder refused (e.g. a uint64 ≥ 2^53): the handler answers INVALID_ARGUMENT. */
export class UndecodableRequest {
  constructor(readonly cause: unknown) {}
}

/**
 * `definition` with decoders that return an UndecodableRequest instead of
 * throwing: grpc-js would answer a throwing decoder with INTERNAL, but a
 * request we cannot decode is the client's error.
 */
export function tolerantDecoding<T extends ServiceDefinition>(definition: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (e) {
          return new UndecodableRequest(e);
        }
      },
    };
  }
  return out as T;
}

/** The request, or INVALID_ARGUMENT if it could not be decoded. */
export function decoded<T>(request: T, method: string): T {
  if (request instanceof UndecodableRequest) {
    const why = request.cause instanceof Error ? request.cause.message : String(request.cause);
    throw new AgentError("INVALID_ARGUMENT", `cannot decode the ${method} request: ${cut(why, MAX_QUOTED)}`, {
      cause: request.cause,
    });
  }
  return request;
}

/** A request stream whose undecodable messages fail the iteration with INVALID_ARGUMENT. */
export function decodedStream<T>(source: AsyncIterable<T>, method: string): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]: () => {
      const it = source[Symbol.asyncIterator]();
      return {
        next: async () => {
          const r = await it.next();
          return r.done === true ? r : { done: false, value: decoded(r.value, method) };
        },
        return: async (value?: unknown) => {
          await it.return?.(value);
          return { done: true, value: undefined };
        },
      };
    },
  };
}
