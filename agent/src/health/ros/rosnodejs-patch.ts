import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { FrameSplitter } from "./tcpros-frames.js";

/*
 * Two fixes to rosnodejs 3.1.0's SubscriberImpl (see README.md, "rosnodejs
 * 3.1.0 bugs"). Both lose a publisher for good when a subscriber is shut down
 * or re-created while the master's publisherUpdate is in flight, which is what
 * a topic whose type changed does:
 * - A: `_disconnectClient` calls `end()` then `removeAllListeners()`; on a
 *   socket still connecting that removes the listener `end()` waits on and the
 *   one that sends our header, so the socket connects and stays silent. rospy
 *   reads each new connection's header in its one accept thread without a
 *   timeout: that talker then serves no subscriber at all. Fix: also destroy.
 * - B: a publisherUpdate while a connection to that publisher is pending opens
 *   a second one; rospy keeps the newest per caller id and closes the older,
 *   whose close handler disconnects by publisher URI, so the newest goes too.
 *   Fix: open no socket to a publisher we hold or are connecting to.
 * Both wrap the originals, only after checking the exact version and source.
 * - C (CPU, not a bug): each connection's bytes go through a DeserializeStream
 *   (a Transform piped from the socket): per message a Writable write, a
 *   Transform callback and two Buffer.concat. Its frames now come straight from
 *   the socket's 'data' events (FrameSplitter) and are emitted on that same
 *   DeserializeStream, so rosnodejs' own listeners see exactly the same frames.
 */

const VERSION = "3.1.0";
/** sha256 of `Function.prototype.toString()` of each method we wrap, as 3.1.0 ships it. */
const SOURCES = {
  _disconnectClient: "8e176f51faba4dc7e648af219b015432df5b16020d63c7c7a84c5b79500d0886",
  _handleTcpTopicRequestResponse: "2c17088dda007bbb4c22f4f9af07fd636049fc57288512ff58705b5841f7cf39",
} as const;
const PATCHED = Symbol.for("ros-rollback.rosnodejs-3.1.0-subscriber-fixes");

interface Closable {
  destroy(): unknown;
}

/** A connection as `_handleTcpTopicRequestResponse` leaves it: piped into its DeserializeStream. */
interface PubSocket extends Closable {
  $deserializer?: { emit(event: "message", frame: Buffer): unknown };
  unpipe(destination?: unknown): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  resume(): unknown;
}

/** The parts of a SubscriberImpl the fixes read: publisher URI → socket, validated or pending. */
interface SubscriberState {
  _pubClients: Record<string, Closable | undefined>;
  _pendingPubClients: Record<string, PubSocket | undefined>;
}

type Method = (this: SubscriberState, ...args: unknown[]) => unknown;

export type PatchResult =
  | { readonly applied: true; readonly already: boolean }
  | { readonly applied: false; readonly reason: string };

/**
 * Wraps the two methods on `subscriberClass.prototype` (own properties, so a
 * subclass can be patched alone). Refuses, changing nothing, unless `version`
 * is 3.1.0 and both methods are exactly 3.1.0's. Idempotent.
 */
export function patchSubscriberImpl(subscriberClass: unknown, version: string): PatchResult {
  const proto: unknown =
    typeof subscriberClass === "function" ? (subscriberClass as { prototype: unknown }).prototype : undefined;
  if (typeof proto !== "object" || proto === null)
    return { applied: false, reason: "SubscriberImpl is not a class" };
  const methods = proto as Record<string | symbol, unknown>;
  if (Object.hasOwn(methods, PATCHED)) return { applied: true, already: true };
  if (version !== VERSION)
    return { applied: false, reason: `rosnodejs ${version.slice(0, 40)}, not ${VERSION}` };
  const originals: Partial<Record<keyof typeof SOURCES, Method>> = {};
  for (const [name, sha] of Object.entries(SOURCES) as [keyof typeof SOURCES, string][]) {
    const fn = methods[name];
    if (typeof fn !== "function") return { applied: false, reason: `SubscriberImpl.${name} is missing` };
    if (createHash("sha256").update(fn.toString()).digest("hex") !== sha)
      return { applied: false, reason: `SubscriberImpl.${name} is not rosnodejs ${VERSION}'s` };
    originals[name] = fn as Method;
  }
  const { _disconnectClient: disconnect, _handleTcpTopicRequestResponse: connect } = originals;
  if (disconnect === undefined || connect === undefined) return { applied: false, reason: "unreachable" };

  // A: `end()` cannot close a socket that is still connecting once its listeners are gone.
  methods._disconnectClient = function (this: SubscriberState, clientId: unknown) {
    const key = String(clientId);
    const client = this._pubClients[key] ?? this._pendingPubClients[key];
    const result = disconnect.call(this, clientId);
    client?.destroy();
    return result;
  };
  // B: one socket per publisher; a second would make rospy close the first, taking both down.
  methods._handleTcpTopicRequestResponse = function (this: SubscriberState, resp: unknown, nodeUri: unknown) {
    const key = String(nodeUri);
    if (this._pubClients[key] !== undefined || this._pendingPubClients[key] !== undefined) return undefined;
    const result = connect.call(this, resp, nodeUri);
    // C: the socket was created, piped and stored synchronously; nothing has been read yet.
    const socket = this._pendingPubClients[key];
    if (socket !== undefined) readFramesDirectly(socket);
    return result;
  };
  Object.defineProperty(methods, PATCHED, { value: true });
  return { applied: true, already: false };
}

/** Feeds the socket's frames to its DeserializeStream's listeners without the stream itself. */
function readFramesDirectly(socket: PubSocket): void {
  const deserializer = socket.$deserializer;
  if (deserializer === undefined) return;
  const frames = new FrameSplitter((frame) => deserializer.emit("message", frame));
  socket.unpipe(deserializer);
  socket.on("data", (chunk) => frames.push(chunk));
  // unpipe paused the socket (its last pipe): a 'data' listener alone does not resume it.
  socket.resume();
}

/** Patches the rosnodejs that `import("rosnodejs")` loads (same module cache). */
export function patchRosnodejs(): PatchResult {
  try {
    const require = createRequire(import.meta.url);
    const pkg: unknown = require("rosnodejs/package.json");
    const version =
      typeof pkg === "object" && pkg !== null && "version" in pkg ? String(pkg.version) : "unknown";
    return patchSubscriberImpl(require("rosnodejs/dist/lib/impl/SubscriberImpl.js"), version);
  } catch (e) {
    return { applied: false, reason: `cannot load rosnodejs' SubscriberImpl: ${String(e).slice(0, 200)}` };
  }
}
