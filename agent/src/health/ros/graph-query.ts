import { AgentError } from "../../errors.js";
import type { GraphState } from "./graph.js";
import { type PublisherHeader, probePublisher } from "./tcpros.js";
import { rosApiCall, type XmlRpcValue } from "./xmlrpc.js";

/** One bounded round trip to the master: its graph and its `/run_id`. */
export async function queryGraph(
  masterUri: string,
  callerId: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<GraphState> {
  const call = (method: string, params: XmlRpcValue[]): Promise<XmlRpcValue> =>
    rosApiCall(masterUri, method, params, { timeoutMs, signal });
  const [system, types, runId] = await Promise.all([
    call("getSystemState", [callerId]),
    call("getTopicTypes", [callerId]),
    // roscore sets /run_id; a bare rosmaster does not, and then restarts go unseen.
    call("getParam", [callerId, "/run_id"]).catch((e: unknown) => {
      if (e instanceof AgentError && e.code === "EXTERNAL_COMMAND_FAILED" && /code -1/.test(e.message))
        return "";
      throw e;
    }),
  ]);
  return parseGraphState(system, types, String(runId));
}

/** Master → publisher's XML-RPC URI → its TCPROS port → its connection header. */
export async function learnHeader(
  o: { readonly masterUri: string; readonly callerId: string; readonly timeoutMs: number },
  publisher: string,
  topic: string,
  signal: AbortSignal,
): Promise<PublisherHeader> {
  const call = (url: string, method: string, params: XmlRpcValue[]): Promise<XmlRpcValue> =>
    rosApiCall(url, method, params, { timeoutMs: o.timeoutMs, signal });
  const uri = String(await call(o.masterUri, "lookupNode", [o.callerId, publisher]));
  const proto = await call(uri, "requestTopic", [o.callerId, topic, [["TCPROS"]]]);
  if (
    !Array.isArray(proto) ||
    proto[0] !== "TCPROS" ||
    typeof proto[1] !== "string" ||
    typeof proto[2] !== "number"
  )
    throw new AgentError("EXTERNAL_COMMAND_FAILED", `${publisher} offers no TCPROS connection for ${topic}`);
  // A caller id of its own: rospy drops an older connection from the same caller id,
  // which would be our subscriber's.
  return probePublisher(
    proto[1],
    proto[2],
    { callerId: `${o.callerId}_type_probe`, topic },
    { timeoutMs: o.timeoutMs, signal },
  );
}

/** getSystemState: [[topic, [publisher…]]…], [[topic, [subscriber…]]…], [[service, [provider…]]…]. */
export function parseGraphState(system: XmlRpcValue, types: XmlRpcValue, runId: string): GraphState {
  const lists = Array.isArray(system) ? system : [];
  const entries = (v: XmlRpcValue | undefined): [string, string[]][] =>
    (Array.isArray(v) ? v : []).flatMap((e) =>
      Array.isArray(e) && typeof e[0] === "string" && Array.isArray(e[1])
        ? [[e[0], e[1].filter((n): n is string => typeof n === "string")] as [string, string[]]]
        : [],
    );
  const publishers = new Map(entries(lists[0]));
  const nodes = new Set<string>();
  for (const list of lists) for (const [, ns] of entries(list)) for (const n of ns) nodes.add(n);
  const topicTypes = new Map<string, string>();
  for (const e of Array.isArray(types) ? types : [])
    if (Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string") topicTypes.set(e[0], e[1]);
  return { runId, publishers, topicTypes, nodes };
}
