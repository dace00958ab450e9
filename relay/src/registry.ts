import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { RelayStreamKind, RobotState } from "@ros-rollback/proto/relay";

/** A robot's control connection as the registry sees it. */
export interface RobotLink {
  readonly name: string;
  readonly since: Date;
  /** A new stream to the robot (on its control connection), once it answered, within `timeoutMs`. */
  open(kind: RelayStreamKind, timeoutMs: number): Promise<Duplex>;
  /** Asks the robot for a dedicated stream: a TLS connection of its own carrying `id`. */
  askDedicated(id: string): void;
  /** Ends the control connection (replaced by a newer one, or the relay stops); graceful: open streams finish. */
  close(reason: string, graceful?: boolean): void;
}

/** Robots remembered after they leave, for "last seen": bounded, oldest forgotten first. */
const MAX_LAST_SEEN = 100_000;

/**
 * Who is connected now, in this process only (no database: a restarted relay
 * learns it again as robots reconnect). Two connections with one name: the
 * NEWER wins. A robot whose LTE link died reconnects before the relay can
 * notice the old connection is half-open; refusing it would lock the robot
 * out until keepalive ends the old one. Both hold a valid certificate for the
 * name, so neither is more trustworthy.
 */
export class Registry {
  private readonly robots = new Map<string, RobotLink>();
  private readonly lastSeen = new Map<string, Date>();
  private readonly pending = new Map<
    string,
    { robot: string; resolve: (s: Duplex) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Registers `link`; returns the connection it replaced, if any (the caller closes and logs it). */
  attach(link: RobotLink): RobotLink | undefined {
    const old = this.robots.get(link.name);
    this.robots.set(link.name, link);
    return old;
  }

  /** `link` has ended; a newer connection under the same name stays. */
  detach(link: RobotLink): void {
    if (this.robots.get(link.name) !== link) return;
    this.robots.delete(link.name);
    this.lastSeen.delete(link.name);
    this.lastSeen.set(link.name, this.now());
    if (this.lastSeen.size > MAX_LAST_SEEN) {
      const oldest = this.lastSeen.keys().next().value;
      if (oldest !== undefined) this.lastSeen.delete(oldest);
    }
  }

  get size(): number {
    return this.robots.size;
  }

  state(name: string): RobotState {
    const link = this.robots.get(name);
    if (link) return { name, connected: true, since: link.since.toISOString() };
    const seen = this.lastSeen.get(name);
    return seen ? { name, connected: false, lastSeen: seen.toISOString() } : { name, connected: false };
  }

  names(): string[] {
    return [...this.robots.keys()];
  }

  /** A stream to `name`'s agent: the robot answers it within `timeoutMs`. */
  openStream(name: string, timeoutMs: number, kind: RelayStreamKind = "grpc"): Promise<Duplex> {
    const link = this.robots.get(name);
    if (link === undefined) return Promise.reject(new NotConnected(this.state(name)));
    return link.open(kind, timeoutMs);
  }

  /** A dedicated stream to `name`'s agent (a TLS connection of its own), within `timeoutMs`. */
  openDedicated(name: string, timeoutMs: number): Promise<Duplex> {
    const link = this.robots.get(name);
    if (link === undefined) return Promise.reject(new NotConnected(this.state(name)));
    const id = randomBytes(16).toString("hex");
    return new Promise<Duplex>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${name} did not open a stream within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { robot: name, resolve, reject, timer });
      link.askDedicated(id);
    });
  }

  /** A robot's dedicated stream arrived; false when nobody waits for it (late, or not this robot's). */
  accept(robot: string, id: string, socket: Duplex): boolean {
    const p = this.pending.get(id);
    if (p === undefined || p.robot !== robot) return false;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(socket);
    return true;
  }

  closeAll(reason: string): void {
    for (const link of this.robots.values()) link.close(reason);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
    }
    this.pending.clear();
  }
}

export class NotConnected extends Error {
  override readonly name = "NotConnected";
  constructor(readonly state: RobotState) {
    super(`robot ${state.name} is not connected to this relay`);
  }
}

/** "robot1 is not connected to the relay (last seen …)" */
export function notConnectedMessage(s: RobotState): string {
  return `${s.name} is not connected to the relay${s.lastSeen ? ` (last seen ${s.lastSeen})` : " (not seen since the relay started)"}`;
}
