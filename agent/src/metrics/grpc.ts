import {
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";
import type { AgentMetrics } from "./registry.js";

/** go-grpc-prometheus spells codes as Go's codes.Code.String() does; dashboards match on these. */
const CODE_NAMES: Record<number, string> = {
  [status.OK]: "OK",
  [status.CANCELLED]: "Canceled",
  [status.UNKNOWN]: "Unknown",
  [status.INVALID_ARGUMENT]: "InvalidArgument",
  [status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [status.NOT_FOUND]: "NotFound",
  [status.ALREADY_EXISTS]: "AlreadyExists",
  [status.PERMISSION_DENIED]: "PermissionDenied",
  [status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [status.FAILED_PRECONDITION]: "FailedPrecondition",
  [status.ABORTED]: "Aborted",
  [status.OUT_OF_RANGE]: "OutOfRange",
  [status.UNIMPLEMENTED]: "Unimplemented",
  [status.INTERNAL]: "Internal",
  [status.UNAVAILABLE]: "Unavailable",
  [status.DATA_LOSS]: "DataLoss",
  [status.UNAUTHENTICATED]: "Unauthenticated",
};

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

type Method = Pick<ServerMethodDefinition<unknown, unknown>, "path" | "requestStream" | "responseStream">;

/** grpc_service, grpc_method, grpc_type of a method ("/ros_rollback.v1.Agent/GetStatus"). */
export function methodLabels(method: Method) {
  const [, service = "unknown", name = "unknown"] = method.path.split("/");
  const grpc_type = method.requestStream
    ? method.responseStream
      ? "bidi_stream"
      : "client_stream"
    : method.responseStream
      ? "server_stream"
      : "unary";
  return { grpc_service: service, grpc_method: name, grpc_type };
}

/**
 * The one place gRPC is measured: a server interceptor (every service on the
 * server, handlers untouched). A call ends with the status the server sends,
 * or as Canceled when the client goes away first.
 */
export function grpcMetricsInterceptor(m: AgentMetrics): ServerInterceptor {
  return (method: Method, call: ServerInterceptingCallInterface) => {
    const labels = methodLabels(method);
    m.grpcStarted.inc(labels);
    const stopTimer = m.grpcSeconds.startTimer(labels);
    let ended = false;
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      stopTimer();
      m.grpcHandled.inc({ ...labels, grpc_code: grpcCodeName(code) });
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            m.grpcReceived.inc(labels);
            nextMessage(message);
          },
          onCancel: () => end(status.CANCELLED),
        }),
      sendMessage: (message, next) => {
        m.grpcSent.inc(labels);
        next(message);
      },
      sendStatus: (st, next) => {
        end(st.code ?? status.UNKNOWN);
        next(st);
      },
    });
  };
}

/** Zero series for a service's methods, so rates and alerts work before the first call. */
export function initGrpcMetrics(m: AgentMetrics, service: ServiceDefinition): void {
  for (const method of Object.values(service)) {
    const labels = methodLabels(method);
    m.grpcStarted.inc(labels, 0);
    m.grpcHandled.inc({ ...labels, grpc_code: "OK" }, 0);
    m.grpcReceived.inc(labels, 0);
    m.grpcSent.inc(labels, 0);
    m.grpcSeconds.zero(labels);
  }
}
