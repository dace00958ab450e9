import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { RelayStreamKind, RobotState } from "@ros-rollback/proto/relay";

/** A robot's control connection as the registry sees it. */
export interface RobotLink {
  readonly name: string;
  readonly since: Date;
  /** A new stream to the robot (on its control connection), once it answered, within `timeoutMs`. */
  open(kind: RelayStreamKind, timeoutMs: number): Promise<Duplex>;
  /** Asks the robot for a dedicated connection: it dials the robot port and sends `ticket`. */
  askDedicated(ticket: string): void;
  /** Ends the control connection (replaced by a newer one, or the relay stops); graceful: open streams finish. */
  close(reason: string, graceful?: boolean): void;
}

/** Robots remembered after they leave, for "last seen": bounded, oldest forgotten first. */
const MAX_LAST_SEEN = 100_000;
/** Dedicated connections asked for and not yet joined, at most (each holds a robot's connection). */
const MAX_PENDING_TICKETS = 4096;

/** A dedicated connection on its way: the controller's ticket's, until both ends arrived or time ran out. */
interface Pending {
  readonly robotTicket: string;
  readonly timer: NodeJS.Timeout;
  /** The robot's connection, when it came before the controller's. */
  socket?: Duplex;
  /** The controller's connection waiting for the robot's. */
  waiter?: { resolve: (s: Duplex) => void; reject: (e: Error) => void };
}

const newTicket = () => randomBytes(32).toString("hex");

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
  /** Dedicated connections on their way, by the controller's ticket; the robot's ticket leads to it. */
  private readonly pending = new Map<string, Pending>();
  private readonly byRobotTicket = new Map<string, string>();

  constructor(
    private readonly now: () => Date = () => new Date(),
    private readonly maxPending = MAX_PENDING_TICKETS,
  ) {}

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

  /**
   * A ticket for a dedicated connection to `name`'s agent: the robot is asked
   * to dial in with a ticket of its own; the two are joined by claim/accept,
   * or dropped after `timeoutMs`.
   */
  issueTicket(name: string, timeoutMs: number): string {
    const link = this.robots.get(name);
    if (link === undefined) throw new NotConnected(this.state(name));
    if (this.pending.size >= this.maxPending) {
      throw new Error(`${this.maxPending} dedicated connections are pending; try again`);
    }
    const ticket = newTicket();
    const robotTicket = newTicket();
    const timer = setTimeout(
      () => this.drop(ticket, new Error(`${name} did not open a stream within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.pending.set(ticket, { robotTicket, timer });
    this.byRobotTicket.set(robotTicket, ticket);
    link.askDedicated(robotTicket);
    return ticket;
  }

  /** The controller's connection brought `ticket`: the robot's connection, once there (each ticket once). */
  claim(ticket: string): Promise<Duplex> {
    const p = this.pending.get(ticket);
    if (p === undefined || p.waiter !== undefined) {
      return Promise.reject(new UnknownTicket("an unknown, used or expired ticket"));
    }
    const { socket } = p;
    if (socket !== undefined) {
      this.settle(ticket, p);
      return Promise.resolve(socket);
    }
    return new Promise<Duplex>((resolve, reject) => {
      p.waiter = { resolve, reject };
    });
  }

  /** The robot's connection brought `robotTicket`; false when nobody waits for it (unknown, used, late). */
  accept(robotTicket: string, socket: Duplex): boolean {
    const ticket = this.byRobotTicket.get(robotTicket);
    const p = ticket === undefined ? undefined : this.pending.get(ticket);
    if (ticket === undefined || p === undefined) return false;
    this.byRobotTicket.delete(robotTicket);
    if (p.waiter === undefined) p.socket = socket;
    else {
      this.settle(ticket, p);
      p.waiter.resolve(socket);
    }
    return true;
  }

  private settle(ticket: string, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(ticket);
    this.byRobotTicket.delete(p.robotTicket);
  }

  private drop(ticket: string, why: Error): void {
    const p = this.pending.get(ticket);
    if (p === undefined) return;
    this.settle(ticket, p);
    p.socket?.destroy();
    p.waiter?.reject(why);
  }

  closeAll(reason: string): void {
    for (const link of this.robots.values()) link.close(reason);
    for (const ticket of [...this.pending.keys()]) this.drop(ticket, new Error(reason));
  }
}

/** A dedicated connection's ticket that is not (or no longer) pending. */
export class UnknownTicket extends Error {
  override readonly name = "UnknownTicket";
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
