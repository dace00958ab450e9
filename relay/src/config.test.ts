import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compileRelayConfig } from "./config.js";

const tls = {
  certFile: "/r.pem",
  keyFile: "/r.key",
  robotCaFile: "/robots.pem",
  controllerCaFile: "/ops.pem",
};

describe("relay config", () => {
  it("compiles host:port pairs; metrics optional", () => {
    const c = compileRelayConfig({ robotListen: "0.0.0.0:7443", controllerListen: "[::1]:7444", tls });
    expect(c).toEqual({
      robotListen: { host: "0.0.0.0", port: 7443 },
      controllerListen: { host: "::1", port: 7444 },
      metricsListen: undefined,
      tls,
    });
  });

  it("refuses unknown keys, bad addresses and missing TLS files, naming the key (bounded)", () => {
    const ok = { robotListen: ":1", controllerListen: ":2", tls };
    expect(() => compileRelayConfig({ ...ok, [`x${"y".repeat(5_000)}`]: 1 })).toThrow(
      /^unknown key "xy{99}…"$/,
    );
    expect(() => compileRelayConfig({ ...ok, robotListen: "7443" })).toThrow(
      /robotListen: expected "host:port"/,
    );
    expect(() => compileRelayConfig({ ...ok, controllerListen: "h:70000" })).toThrow(/controllerListen/);
    expect(() => compileRelayConfig({ ...ok, tls: { ...tls, robotCaFile: "" } })).toThrow(/tls.robotCaFile/);
    expect(() => compileRelayConfig({ ...ok, tls: { ...tls, extra: 1 } })).toThrow(/unknown key "tls.extra"/);
    expect(() => compileRelayConfig([])).toThrow(/expected an object/);
  });

  it("the relay exits 78 (EX_CONFIG) on a bad config or an unreadable certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rl-relay-config-"));
    const main = fileURLToPath(new URL("./main.ts", import.meta.url));
    const run = (config: unknown) => {
      const file = join(dir, "relay.json");
      writeFileSync(file, JSON.stringify(config));
      return new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, ["--import", "tsx", main, "--config", file], (e, _out, stderr) =>
          resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stderr }),
        );
      });
    };
    try {
      const bad = await run({ robotListen: "nope", controllerListen: ":2", tls });
      expect(bad.code).toBe(78);
      expect(bad.stderr).toMatch(/^ros-rollback-relay: config .*: robotListen: expected "host:port"\n$/);
      const missing = await run({ robotListen: "127.0.0.1:0", controllerListen: "127.0.0.1:0", tls });
      expect(missing.code).toBe(78);
      expect(missing.stderr).toMatch(/cannot read tls.certFile \/r.pem/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
