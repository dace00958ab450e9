import type { PushObserver } from "../store/index.js";
import type { AgentMetrics } from "./registry.js";

/** Counts what pushes bring in; handed to createStorePort as its observer. */
export function pushObserver(m: AgentMetrics): PushObserver {
  return {
    wireBytes: (n) => m.pushWireBytes.inc(n),
    narBytes: (n) => m.pushNarBytes.inc(n),
    pathImported: () => m.pushPaths.inc({ result: "imported" }),
    pathSkipped: () => m.pushPaths.inc({ result: "skipped" }),
    pathRefused: (_path, reason) => m.pushRefused.inc({ reason }),
  };
}

/** Counts each push when it ends, by transport and result; handed to startServer as onPush. */
export function pushCounter(m: AgentMetrics): (transport: "raw" | "grpc", ok: boolean) => void {
  return (transport, ok) => m.pushes.inc({ transport, result: ok ? "ok" : "error" });
}
