import { AgentError } from "../../errors.js";
import { patchRosnodejs } from "./rosnodejs-patch.js";

/*
 * rosnodejs 3.1.0, seen through the narrow types below (its own .d.ts are
 * approximate). It is one node per process: initNode/shutdown/reset act on a
 * module-level singleton, so at most one RosnodejsMonitor may be open.
 */

/** A message "class" built from what the publisher told us; rosnodejs needs no .msg files for it. */
export interface MessageClass {
  datatype(): string;
  md5sum(): string;
  messageDefinition(): string;
  /** Messages are counted; only a leading string field is ever decoded (for hold conditions). */
  deserialize(buffer: Buffer): string | undefined;
}

export interface RnjSubscriber {
  getNumPublishers(): number;
  on(event: "error", listener: (err: unknown) => void): unknown;
}

export interface RnjNodeHandle {
  subscribe(
    topic: string,
    type: MessageClass,
    callback: (msg: string | undefined) => void,
    options: { queueSize: number; throttleMs: number },
  ): RnjSubscriber;
  unsubscribe(topic: string): Promise<unknown> | undefined;
}

interface RnjLogRecord {
  readonly level?: number;
  readonly msg?: string;
  readonly name?: string;
}

interface Rosnodejs {
  initNode(
    name: string,
    options: {
      rosMasterUri: string;
      onTheFly: boolean;
      notime: boolean;
      timeout: number;
      logging: {
        skipRosLogging: boolean;
        overrideLoggerCleanup: boolean;
        streams: { type: "raw"; level: string; stream: { write(rec: RnjLogRecord): void } }[];
      };
      node: { forceExit: boolean };
    },
  ): Promise<RnjNodeHandle>;
  shutdown(): Promise<unknown>;
  reset(): void;
  ok(): boolean | null;
  readonly log: { clearStreams(): void };
}

/** Where rosnodejs' warnings and errors go (a pino logger fits). */
export interface MonitorLog {
  warn(obj: object, msg: string): void;
}

export interface RosNodeOptions {
  readonly masterUri: string;
  readonly nodeName: string;
  readonly advertiseIp: string;
  readonly masterTimeoutMs: number;
  readonly log?: MonitorLog | undefined;
}

/** Loads (and patches) rosnodejs on first start; starts and stops its one node. */
export class RosNode {
  private rosnodejs: Rosnodejs | undefined;

  constructor(private readonly o: RosNodeOptions) {}

  /** False once rosnodejs shut its node down (e.g. the master told it to). */
  ok(): boolean {
    return this.rosnodejs?.ok() === true;
  }

  private async load(): Promise<Rosnodejs> {
    if (this.rosnodejs !== undefined) return this.rosnodejs;
    // rosnodejs refuses to load without CMAKE_PREFIX_PATH, although we never let it look for messages there.
    const saved = process.env.CMAKE_PREFIX_PATH;
    if (!saved) process.env.CMAKE_PREFIX_PATH = "/nonexistent/ros-rollback";
    try {
      const mod: { default: unknown } = await import("rosnodejs");
      this.rosnodejs = mod.default as Rosnodejs;
      const patched = patchRosnodejs();
      if (!patched.applied)
        this.o.log?.warn(
          { reason: patched.reason },
          "rosnodejs left unpatched: a topic whose type changes may go silent (see agent/src/health/README.md)",
        );
    } finally {
      if (!saved) delete process.env.CMAKE_PREFIX_PATH;
    }
    return this.rosnodejs;
  }

  async start(signal: AbortSignal): Promise<RnjNodeHandle> {
    const rnj = await this.load();
    signal.throwIfAborted();
    rnj.reset();
    const sigint = new Set(process.listeners("SIGINT"));
    const savedIp = process.env.ROS_IP;
    process.env.ROS_IP = this.o.advertiseIp;
    let init: Promise<RnjNodeHandle>;
    try {
      rnj.log.clearStreams();
      init = rnj.initNode(this.o.nodeName, {
        rosMasterUri: this.o.masterUri,
        onTheFly: false,
        notime: true,
        timeout: this.o.masterTimeoutMs,
        logging: {
          skipRosLogging: true,
          overrideLoggerCleanup: true,
          streams: [{ type: "raw", level: "warn", stream: { write: (rec) => this.rosLog(rec) } }],
        },
        node: { forceExit: false },
      });
    } finally {
      // rosnodejs reads ROS_IP synchronously in initNode, and takes SIGINT for itself: the agent
      // handles signals (and calls close()), so rosnodejs' handler must not swallow them.
      if (savedIp === undefined) delete process.env.ROS_IP;
      else process.env.ROS_IP = savedIp;
      for (const l of process.listeners("SIGINT")) if (!sigint.has(l)) process.removeListener("SIGINT", l);
    }
    try {
      return await bound(init, this.o.masterTimeoutMs + 500, signal);
    } catch (e) {
      await bound(rnj.shutdown(), 1000).catch(() => {});
      rnj.reset();
      throw e;
    }
  }

  private rosLog(rec: RnjLogRecord): void {
    this.o.log?.warn({ ros: rec.name }, `rosnodejs: ${rec.msg ?? ""}`);
  }

  async stop(): Promise<void> {
    const rnj = this.rosnodejs;
    if (rnj === undefined) return;
    // Unregistering is one attempt per registration in rosnodejs; a hung master must not hang us.
    await bound(rnj.shutdown(), 2000).catch(() => {});
    rnj.reset();
  }
}

/** `p`, or a TIMEOUT after `ms`, or ABORTED when `signal` fires; `p` itself is not cancelled. */
export function bound<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AgentError("ABORTED", "aborted", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      reject(new AgentError("TIMEOUT", `no answer within ${ms / 1000} s`));
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
