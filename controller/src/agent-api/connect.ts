import { createSecureContext, type SecureContext } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { AgentClient } from "@ros-rollback/proto";
import { fastAgentClient } from "@ros-rollback/proto/clients";
import { RelayClient, RelayRefused } from "../relay/dial.js";
import { type RelayRoute, viaRelay } from "../relay/via-relay.js";
import type { Target } from "../targets/inventory.js";
import { createCredentials, readTlsFile, readTlsMaterial, type TlsMaterial } from "./credentials.js";
import { AgentCallError } from "./errors.js";
import { GrpcAgentApi } from "./grpc-api.js";
import { connectH2 } from "./h2-unary.js";
import type { PushVia } from "./push-via.js";
import { TlsCache } from "./tls-cache.js";
import type { AgentApi, ConnectAgent } from "./types.js";

const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

/** A target's TLS files read, checked and parsed: for gRPC, the raw push channel and its relay. */
interface Prepared {
  readonly material: TlsMaterial;
  readonly credentials: grpc.ChannelCredentials;
  /** The controller's side of its TLS connections to the relay, when the target has one. */
  readonly relayContext: SecureContext | undefined;
  /** Its end-to-end TLS to the agent through the relay (connectH2's); undefined without a relay. */
  readonly agentContext: SecureContext | undefined;
  /**
   * Its connections to relays, by address: with the cache, one per relay and
   * CLI run, whose streams carry every robot behind it.
   */
  readonly relayClients: Map<string, RelayClient>;
}

async function prepare(target: Target): Promise<Prepared> {
  const material = await readTlsMaterial(target);
  const credentials = await createCredentials(target, material);
  const relayClients = new Map<string, RelayClient>();
  if (target.relay === undefined) {
    return { material, credentials, relayContext: undefined, agentContext: undefined, relayClients };
  }
  const relayCa =
    target.relay.caFile === target.caFile
      ? material.ca
      : await readTlsFile(target, "relayCaFile", target.relay.caFile);
  const relayContext = createSecureContext({ ca: relayCa, cert: material.cert, key: material.key });
  const agentContext = createSecureContext(material);
  return { material, credentials, relayContext, agentContext, relayClients };
}

/**
 * Connects to agents; with a cache, the TLS files shared by a fleet's targets
 * are read and parsed once per version of the files (tls-cache.ts), not per robot.
 */
export function makeConnectAgent(pushVia: PushVia, cache?: TlsCache<Prepared>): ConnectAgent {
  return (target, options, signal) =>
    connectPrepared(
      pushVia,
      target,
      options,
      signal,
      cache ? cache.get(target, () => prepare(target)) : prepare(target),
    );
}

/** Connects with `pushVia` as the push transport (push/transport/connect-agent.ts passes the real one); no cache. */
export function connectAgentWith(pushVia: PushVia): ConnectAgent {
  return makeConnectAgent(pushVia);
}

export { TlsCache };

async function connectPrepared(
  pushVia: PushVia,
  inventoryTarget: Target,
  options: Parameters<ConnectAgent>[1],
  signal: AbortSignal,
  preparing: Promise<Prepared>,
): Promise<AgentApi> {
  const { material, credentials, relayContext, agentContext, relayClients } = await preparing;
  // The one place a target's route is chosen: direct, or a loopback port backed by its relay.
  const routed =
    relayContext === undefined
      ? undefined
      : await routeTarget(
          inventoryTarget,
          (address) => {
            const known = relayClients.get(address);
            if (known !== undefined) return known;
            const made = new RelayClient({ address, secureContext: relayContext });
            relayClients.set(address, made);
            return made;
          },
          options.connectTimeoutMs,
        );
  const target = routed?.target ?? inventoryTarget;
  const channelOptions: grpc.ClientOptions = {
    // Detect a connection that died mid-activation (the switch may take the
    // network down): a stream whose link went silent ends instead of hanging.
    // The grpc-js agent accepts pings at this rate, idle connections too.
    "grpc.keepalive_time_ms": options.keepaliveTimeMs ?? KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS,
    "grpc.keepalive_permit_without_calls": 1,
    // Every AgentApi gets its OWN connection (TCP + TLS handshake): grpc-js
    // otherwise shares one subchannel between clients with equal target,
    // options and credentials, and a Confirm "over a new connection" would
    // ride on the connection that carried the Activate stream.
    "grpc.use_local_subchannel_pool": 1,
    // The address is the robot's, not a service's: no DNS TXT lookup for a service config (one
    // query less per connect), so grpc-js always picks the first address, and the balancers only a
    // service config selects are left out of the bundle (grpc-client-only.mjs).
    "grpc.service_config_disable_resolution": 1,
  };
  if (options.failFast === true) {
    // One connection attempt, no reconnects: the caller makes a NEW connection
    // instead. (A failed grpc-js subchannel otherwise tries once more after
    // its backoff, even after the client was closed.) The timer is unref'd.
    channelOptions["grpc.initial_reconnect_backoff_ms"] = 3_600_000;
    channelOptions["grpc.max_reconnect_backoff_ms"] = 3_600_000;
  }
  if (target.serverName !== undefined) channelOptions["grpc.ssl_target_name_override"] = target.serverName;
  const makeClient = () => new (fastAgentClient())(target.address, credentials, channelOptions);
  const raw = {
    address: target.address,
    serverName: target.serverName,
    ...material,
    ...(routed === undefined ? {} : { dial: routed.dialBulk }),
  };
  if (routed !== undefined && agentContext !== undefined) {
    // Through a relay: the first stream carries our TLS and HTTP/2 for GetStatus (no grpc-js
    // client, no loopback hop); another call makes the client and connects through the proxy.
    const h2 = await connectH2(
      inventoryTarget.name,
      target.address,
      routed.first,
      { secureContext: agentContext, serverName: target.serverName ?? "" },
      options.connectTimeoutMs,
    ).catch((e: unknown) => {
      routed.proxy.close();
      throw e;
    });
    return new GrpcAgentApi(
      target,
      makeClient,
      options,
      raw,
      pushVia,
      () => {
        h2.close();
        routed.proxy.close();
      },
      h2,
    );
  }
  const client = makeClient();
  const api = new GrpcAgentApi(
    target,
    () => client,
    options,
    raw,
    pushVia,
    () => routed?.proxy.close(),
  );
  try {
    await waitForReady(client, target, options.connectTimeoutMs, options.failFast === true, signal);
  } catch (e) {
    api.close();
    const refused = routed?.proxy.lastError();
    if (refused instanceof RelayRefused) throw relayError(inventoryTarget, refused);
    throw e;
  }
  return api;
}

async function routeTarget(
  target: Target,
  clientFor: (address: string) => RelayClient,
  timeoutMs: number,
): Promise<RelayRoute | undefined> {
  if (target.relay === undefined) return undefined;
  try {
    return await viaRelay({ ...target, relay: target.relay }, clientFor(target.relay.address), timeoutMs);
  } catch (e) {
    if (e instanceof RelayRefused) throw relayError(target, e);
    throw e;
  }
}

/** The relay's refusal as a connect failure: UNAVAILABLE, nothing changed (exit 1). */
function relayError(target: Target, e: RelayRefused): AgentCallError {
  return new AgentCallError(target.name, grpc.status.UNAVAILABLE, e.message, {
    cause: e,
    agentCode: `RELAY_${e.code}`,
  });
}

/**
 * Waits until the channel is READY. A TLS failure (wrong CA, name mismatch,
 * rejected client certificate) shows up as TRANSIENT_FAILURE; to report WHY,
 * we probe with one fail-fast RPC, whose UNAVAILABLE details carry the last
 * connection error.
 */
async function waitForReady(
  client: AgentClient,
  target: Target,
  timeoutMs: number,
  failFast: boolean,
  signal: AbortSignal,
): Promise<void> {
  const seconds = Math.round(timeoutMs / 100) / 10;
  signal.throwIfAborted();
  const deadline = Date.now() + timeoutMs;
  const ready = failFast
    ? readyOrFirstFailure(client, deadline)
    : new Promise<void>((resolve, reject) => {
        client.waitForReady(deadline, (err) => (err ? reject(err) : resolve()));
      });
  try {
    await raceAbort(ready, signal);
  } catch (e) {
    if (signal.aborted) throw e;
    // Not ready in time. Ask once, fail-fast, to learn the reason.
    const reason = await new Promise<string>((resolve) => {
      client.getStatus({}, new grpc.Metadata(), { deadline: Date.now() + 2_000 }, (err) => {
        resolve(err ? tidyConnectError(err.details) : "connected too late");
      });
    });
    throw new AgentCallError(
      target.name,
      grpc.status.UNAVAILABLE,
      `cannot reach the agent at ${target.address} within ${seconds}s: ${reason}`,
      { cause: e },
    );
  }
}

/** READY, or a rejection at the first TRANSIENT_FAILURE (or the deadline). */
async function readyOrFirstFailure(client: AgentClient, deadline: number): Promise<void> {
  const channel = client.getChannel();
  // Ask to connect once only: asking again in TRANSIENT_FAILURE would leave
  // grpc-js to retry after its backoff even once the client is closed.
  let state = channel.getConnectivityState(true);
  for (; ; state = channel.getConnectivityState(false)) {
    if (state === grpc.connectivityState.READY) return;
    if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
      throw new Error(`connection ${grpc.connectivityState[state]}`);
    }
    await new Promise<void>((resolve, reject) => {
      channel.watchConnectivityState(state, deadline, (err) => (err ? reject(err) : resolve()));
    });
  }
}

/** grpc-js wraps the reason in boilerplate; keep the reason. */
function tidyConnectError(details: string): string {
  return details
    .replace(/^No connection established\. Last error: /, "")
    .replace(/\s*Resolution note:\s*$/, "")
    .replace(/^Error( \[\w+\])?: /, "")
    .replace(/\.$/, "");
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
