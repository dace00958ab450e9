import * as grpc from "@grpc/grpc-js";
import type { Target } from "../targets/inventory.js";
import { AgentCallError, isServiceError, toAgentCallError } from "./errors.js";

// One unary call and one server stream, each cancelled by an AbortSignal and failing as
// AgentCallError: every RPC wrapper goes through one of these (or push.ts for PushPaths).

/** What a call needs to know about the connection it runs on. */
export interface CallContext {
  readonly target: Target;
  /** Deadline of a unary RPC; also how long a push waits for the agent. */
  readonly unaryTimeoutMs: number;
}

export async function unary<T>(
  ctx: CallContext,
  method: string,
  signal: AbortSignal,
  start: (
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: (err: grpc.ServiceError | null, res: T) => void,
  ) => grpc.ClientUnaryCall,
): Promise<T> {
  signal.throwIfAborted();
  let call: grpc.ClientUnaryCall | undefined;
  const onAbort = () => call?.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await new Promise<T>((resolve, reject) => {
      call = start(new grpc.Metadata(), { deadline: Date.now() + ctx.unaryTimeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    if (isServiceError(e) && e.code === grpc.status.DEADLINE_EXCEEDED) throw noAnswer(ctx, method, e);
    throw toAgentCallError(ctx.target.name, e);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

export async function* serverStream<T>(
  ctx: CallContext,
  signal: AbortSignal,
  start: () => grpc.ClientReadableStream<T>,
): AsyncGenerator<T> {
  signal.throwIfAborted();
  const call = start();
  const onAbort = () => call.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const event of call as AsyncIterable<T>) {
      yield event;
    }
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw toAgentCallError(ctx.target.name, e);
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Leaving the loop early (consumer stopped) must not leave the call open.
    call.cancel();
  }
}

/** The agent kept a call waiting past our deadline: say so in words, not grpc-js's. */
export function noAnswer(ctx: CallContext, what: string, cause: unknown): AgentCallError {
  const seconds = Math.round(ctx.unaryTimeoutMs / 100) / 10;
  return new AgentCallError(
    ctx.target.name,
    grpc.status.DEADLINE_EXCEEDED,
    `the agent did not answer ${what} within ${seconds}s (--rpc-timeout)`,
    { cause },
  );
}
