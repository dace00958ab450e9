// The relay's query (is this robot connected, since when) for fleets: the relay bounds a query (robots
// named, bytes), refusing a larger one, and the controller asks in chunks on one connection.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_QUERY_BYTES, MAX_QUERY_ROBOTS } from "@ros-rollback/proto/relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { RelayClient, RelayRefused } from "../../controller/src/relay/dial.js";
import { relayStates } from "../../controller/src/relay/fleet-states.js";
import type { Target } from "../../controller/src/targets/inventory.js";
import type { RunningRelay } from "../../relay/src/index.js";
import { linkFor, makeRelayPki, memoryLog, type RelayPki, relayFor, relayTarget, until } from "./rig.js";

const agent = useDeployingServer();
let dir: string;
let pki: RelayPki;
let relay: RunningRelay;
let stopLink: () => void;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-query-"));
  pki = makeRelayPki(dir);
  relay = await relayFor(pki, [agent.pki.caFile], memoryLog());
  const link = linkFor(pki, agent, relay.robotPort);
  link.start();
  stopLink = () => link.stop();
  await until(() => link.current === "connected", 5_000, "the robot's link");
});

afterAll(async () => {
  stopLink();
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

const longNames = (n: number) =>
  Array.from({ length: n }, (_, i) => `rl-${String(i).padStart(3, "0")}-${"x".repeat(50)}`);

describe("relay queries of many robots", () => {
  it("a query naming more robots than one answer may hold is refused (BAD_REQUEST), and the relay keeps serving", async () => {
    const endpoint = {
      address: `127.0.0.1:${relay.controllerPort}`,
      ca: readFileSync(pki.relayCa),
      cert: readFileSync(agent.pki.clientCert),
      key: readFileSync(agent.pki.clientKey),
    };
    const client = new RelayClient(endpoint);
    const err = await client.query(longNames(MAX_QUERY_ROBOTS + 1), 3_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RelayRefused);
    expect((err as RelayRefused).code).toBe("BAD_REQUEST");
    expect((err as RelayRefused).message).toContain(
      `at most ${MAX_QUERY_ROBOTS} robots (this one ${MAX_QUERY_ROBOTS + 1})`,
    );
    // Too many bytes (names the relay would not route anyway): refused before it is parsed.
    const big = await client.query(["x".repeat(MAX_QUERY_BYTES)], 3_000).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(RelayRefused);
    expect((big as RelayRefused).message).toContain(`at most ${MAX_QUERY_BYTES} bytes`);
    client.close();
    expect(await new RelayClient(endpoint).query(["rl-robot1"], 3_000)).toMatchObject([
      { name: "rl-robot1", connected: true },
    ]);
  });

  it("status of a fleet asks in chunks: 1,100 robots at one relay each get their state", async () => {
    const one = relayTarget(pki, agent, relay.controllerPort);
    const relayOf = one.relay;
    if (relayOf === undefined) throw new Error("relayTarget has a relay");
    const targets: Target[] = [
      one,
      ...longNames(1_099).map((name) => ({ ...one, name, relay: { ...relayOf, name } })),
    ];
    const states = await relayStates(targets, 3_000);
    expect(states.size).toBe(1_100);
    expect([...states.values()].filter((v) => "error" in v)).toEqual([]);
    expect(states.get("rl-robot1")).toMatchObject({ connected: true });
    expect(states.get(longNames(1)[0] as string)).toMatchObject({ connected: false, lastSeen: null });
  });
});
