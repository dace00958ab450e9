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
