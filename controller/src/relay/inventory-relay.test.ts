import { describe, expect, it } from "vitest";
import { parseInventory } from "../targets/inventory.js";

const tls = { caFile: "ca.pem", certFile: "c.pem", keyFile: "c.key" };
const parse = (t: Record<string, unknown>) =>
  parseInventory({ targets: { "rl-1": { ...tls, ...t } } }, "/inv/fleet.json");

describe("inventory: targets through a relay", () => {
  it("address is optional with relay; relayName defaults to the target's name, relayCaFile to caFile", () => {
    const t = parse({ relay: "relay.example:7444" }).targets.get("rl-1");
    expect(t?.relay).toEqual({ address: "relay.example:7444", name: "rl-1", caFile: "/inv/ca.pem" });
    expect(t?.address).toBe("relay rl-1@relay.example:7444");
    const named = parse({
      relay: "[::1]:7444",
      relayName: "robot-7",
      relayCaFile: "relay-ca.pem",
      address: "10.0.0.5:50051",
    });
    expect(named.targets.get("rl-1")?.relay).toEqual({
      address: "[::1]:7444",
      name: "robot-7",
      caFile: "/inv/relay-ca.pem",
    });
    expect(named.targets.get("rl-1")?.address).toBe("10.0.0.5:50051");
  });

  it("refuses a bad relay address, a name the relay cannot route by, and relay keys without relay", () => {
    expect(() => parse({ relay: "nope" })).toThrow(/targets.rl-1.relay: expected "host:port"/);
    expect(() => parse({ relay: "r:1", relayName: "bad name!" })).toThrow(/targets.rl-1.relayName/);
    expect(() => parse({ address: "h:1", relayName: "x" })).toThrow(/relayName and relayCaFile need relay/);
    expect(() => parse({})).toThrow(/targets.rl-1.address/);
  });
});
