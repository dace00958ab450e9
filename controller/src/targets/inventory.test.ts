import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../core/errors.js";
import { loadInventory, parseInventory, selectTarget } from "./inventory.js";

const robot = { address: "10.0.0.5:50051", caFile: "ca.pem", certFile: "c.pem", keyFile: "c.key" };

describe("parseInventory", () => {
  it("resolves relative file paths against the inventory's directory and keeps absolute ones", () => {
    const inv = parseInventory(
      { targets: { r1: { ...robot, keyFile: "/secrets/c.key", serverName: "robot1" } } },
      "/etc/fleet/inventory.json",
    );
    expect(selectTarget(inv, "r1")).toEqual({
      name: "r1",
      address: "10.0.0.5:50051",
      caFile: "/etc/fleet/ca.pem",
      certFile: "/etc/fleet/c.pem",
      keyFile: "/secrets/c.key",
      serverName: "robot1",
    });
  });

  it("accepts IPv6 addresses in brackets and host names", () => {
    const inv = parseInventory(
      { targets: { a: { ...robot, address: "[fd00::5]:50051" }, b: { ...robot, address: "robot-b.lan:1" } } },
      "/x/i.json",
    );
    expect(inv.targets.size).toBe(2);
  });

  it.each([
    [{}, /targets/],
    [{ targets: { r1: { ...robot, address: "10.0.0.5" } } }, /targets\.r1\.address: expected "host:port"/],
    [{ targets: { r1: { ...robot, caFile: "" } } }, /targets\.r1\.caFile/],
    [{ targets: { r1: { ...robot, extra: 1 } } }, /targets\.r1/],
    [{ targets: { r1: robot }, other: true }, /\(root\)|other/],
    [null, /\(root\): expected object/],
    [{ targets: [] }, /targets: expected record/],
    [{ targets: { r1: "x" } }, /targets\.r1: expected object/],
    [{ targets: { r1: { ...robot, keyFile: 5 } } }, /targets\.r1\.keyFile: expected string, received number/],
    [{ targets: { r1: { ...robot, serverName: "" } } }, /targets\.r1\.serverName/],
    [{ targets: { r1: { ...robot, labels: { "": "a" } } } }, /targets\.r1\.labels: a label name/],
    [{ targets: { r1: { ...robot, labels: { site: 1 } } } }, /targets\.r1\.labels\.site: expected a string/],
  ])("rejects %j with a message naming the field", (json, message) => {
    expect(() => parseInventory(json, "/x/inventory.json")).toThrow(UserError);
    expect(() => parseInventory(json, "/x/inventory.json")).toThrow(message);
  });
});

describe("parseInventory messages", () => {
  it("are bounded: a few issues, keys from the file clipped", () => {
    const targets = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`${"n".repeat(5000)}${i}`, { ...robot, address: "x" }]),
    );
    const message = (() => {
      try {
        parseInventory({ targets }, "/x/inventory.json");
        return "";
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toMatch(/; and 45 more$/);
    expect(message.length).toBeLessThan(1000);
  });

  it("keep labels and an optional serverName", () => {
    const inv = parseInventory({ targets: { r1: { ...robot, labels: { site: "lab" } } } }, "/x/i.json");
    expect(selectTarget(inv, "r1").labels).toEqual({ site: "lab" });
    expect(selectTarget(inv, "r1").serverName).toBeUndefined();
  });
});

describe("selectTarget", () => {
  it("names the known targets, sorted, in one line when the target is unknown", () => {
    const inv = parseInventory({ targets: { zeta: robot, alpha: robot } }, "/x/i.json");
    expect(() => selectTarget(inv, "beta")).toThrow(
      'unknown target "beta" in /x/i.json; known targets: alpha, zeta',
    );
  });
});

describe("loadInventory", () => {
  const dir = mkdtempSync(join(tmpdir(), "inventory-test-"));

  it("reads a file relative to cwd", async () => {
    writeFileSync(join(dir, "fleet.json"), JSON.stringify({ targets: { r1: robot } }));
    const inv = await loadInventory("fleet.json", dir);
    expect(inv.file).toBe(join(dir, "fleet.json"));
    expect(selectTarget(inv, "r1").caFile).toBe(join(dir, "ca.pem"));
  });

  it("reports a missing file and bad JSON as user errors", async () => {
    await expect(loadInventory("nope.json", dir)).rejects.toThrow(
      /cannot read inventory .*nope\.json: no such file/,
    );
    writeFileSync(join(dir, "bad.json"), "{targets:");
    await expect(loadInventory("bad.json", dir)).rejects.toThrow(/is not valid JSON/);
  });
});
