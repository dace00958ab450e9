import { EventEmitter } from "node:events";
import type {
  Server,
  ServerDuplexStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AgentError } from "../errors.js";
import { toStatus } from "./status.js";

/*
 * Server reflection (grpcurl without the .proto) loaded on its first call: @grpc/reflection,
 * protobufjs' parser and the parsed .proto files cost ~3-4 MB of RSS and ~0.2 s of start-up
 * that an agent nobody inspects never needs (measured on a lab robot, bench/agent.ts).
 * Until then the methods are registered raw (bytes in, bytes out) under their real names.
 */

/** What @grpc/reflection adds to a server: the service and its handler. */
export interface ReflectionParts {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

/** Builds the reflection services (v1, v1alpha) as `ReflectionService.addToServer` would add them. */
export type ReflectionLoader = () => Promise<readonly ReflectionParts[]>;

const METHOD = "ServerReflectionInfo";
const SERVICES = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

interface Handler {
  readonly definition: ServiceDefinition;
  readonly handle: (stream: EventEmitter & { write(m: unknown): boolean; end(): void }) => void;
}

export function addLazyReflection(server: Server, load: ReflectionLoader, log: Logger): void {
  let loaded: Promise<Map<string, Handler>> | undefined;
  const handlers = () => {
    loaded ??= load().then((parts) => {
      const byName = new Map<string, Handler>();
      for (const p of parts) {
        const method = p.definition[METHOD];
        const handle = p.implementation[METHOD];
        if (method === undefined || typeof handle !== "function") continue;
        byName.set(method.path, { definition: p.definition, handle: handle as Handler["handle"] });
      }
      return byName;
    });
    // A failed load is tried again by the next call.
    loaded.catch(() => {
      loaded = undefined;
    });
    return loaded;
  };
  for (const service of SERVICES) {
    const path = `/${service}/${METHOD}`;
    const raw = (call: ServerDuplexStream<Buffer, Buffer>) => {
      // Messages that arrive while reflection loads wait, in order.
      const early: Buffer[] = [];
      let ended = false;
      let target: ((b: Buffer) => void) | undefined;
      let onEnd: (() => void) | undefined;
      const fail = (e: unknown) => call.emit("error", toStatus(e, log, path));
      call.on("data", (b: Buffer) => (target ? target(b) : early.push(b)));
      call.on("end", () => {
        if (onEnd) onEnd();
        else ended = true;
      });
      handlers().then((byName) => {
        const h = byName.get(path);
        const def = h?.definition[METHOD];
        if (h === undefined || def === undefined) {
          return fail(new AgentError("FAILED_PRECONDITION", "server reflection is unavailable"));
        }
        const typed = Object.assign(new EventEmitter(), {
          write: (m: unknown) => call.write(def.responseSerialize(m)),
          end: () => call.end(),
        });
        h.handle(typed);
        target = (b) => typed.emit("data", def.requestDeserialize(b));
        onEnd = () => typed.emit("end");
        for (const b of early.splice(0)) target(b);
        if (ended) onEnd();
      }, fail);
    };
    server.register(
      path,
      raw,
      (b: Buffer) => b,
      (b: Buffer) => b,
      "bidi",
    );
  }
}
