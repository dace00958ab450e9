import { connect, createServer, type Socket } from "node:net";

/**
 * The network between controller and robot, for tests: a TCP relay on
 * 127.0.0.1 in front of the fake agent. Every client connection (and so
 * every TLS handshake) is counted; `cut()` kills the live connections as a
 * switch that takes the network down would, `down()` also refuses new ones
 * until `up()`. TLS stays end to end (the relay only copies bytes).
 */
export interface FakeNetwork {
  readonly port: number;
  /** Client connections accepted (refused ones not counted). */
  readonly accepted: number;
  /** Connections refused while down. */
  readonly refused: number;
  /** Kills every live connection (the agent keeps running). */
  cut(): void;
  /** Refuses new connections until up(); live ones go on (a firewall that lets established flows through). */
  refuseNew(): void;
  /** Cuts and refuses new connections until up(). */
  down(): void;
  /**
   * From now on drops every byte of the live connections, which stay open:
   * a link gone silent (a middlebox that lost its state), noticed only by
   * keepalive or a deadline.
   */
  blackhole(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startFakeNetwork(agentPort: number): Promise<FakeNetwork> {
  const live = new Set<Socket>();
  let isDown = false;
  let dropping = new Set<Socket>();
  const server = createServer((client) => {
    if (isDown) {
      net.refused++;
      client.destroy();
      return;
    }
    net.accepted++;
    const upstream = connect(agentPort, "127.0.0.1");
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      live.add(a);
      a.on("data", (data: Buffer) => {
        if (!dropping.has(a)) b.write(data);
      });
      a.on("end", () => b.end());
      a.on("error", () => b.destroy());
      a.on("close", () => {
        live.delete(a);
        b.destroy();
      });
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (typeof address === "object" && address !== null) resolve(address.port);
      else reject(new Error("no port"));
    });
  });
  const net = {
    port,
    accepted: 0,
    refused: 0,
    cut() {
      for (const s of live) s.destroy();
      live.clear();
    },
    blackhole() {
      dropping = new Set(live);
    },
    refuseNew() {
      isDown = true;
    },
    down() {
      isDown = true;
      net.cut();
    },
    up() {
      isDown = false;
    },
    close() {
      net.cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return net;
}
