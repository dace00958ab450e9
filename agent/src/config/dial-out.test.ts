import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "../dial-out/backoff.js";
import { compileConfig } from "./load.js";

const key = "lab-1:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=";
const tls = { caFile: "/etc/rr/ca.pem", certFile: "/etc/rr/agent.pem", keyFile: "/etc/rr/agent.key" };

describe("dialOut config", () => {
  it("listen is optional with dialOut; the relay's TLS files default to tls's", () => {
    const c = compileConfig({ tls, trustedPublicKeys: [key], dialOut: [{ relay: "relay.example:7443" }] });
    expect(c.listen).toBeUndefined();
    expect(c.dialOut).toEqual([{ relay: "relay.example:7443", ...tls }]);
    expect(compileConfig({ listen: "0.0.0.0:1", tls, trustedPublicKeys: [key] }).dialOut).toEqual([]);
  });

  it("refuses what cannot work, naming the key", () => {
    const base = { tls, trustedPublicKeys: [key] };
    expect(() => compileConfig(base)).toThrow(/listen: required unless dialOut/);
    expect(() => compileConfig({ ...base, dialOut: [] })).toThrow(/dialOut/);
    expect(() => compileConfig({ ...base, dialOut: [{ relay: "no-port" }] })).toThrow(
      /dialOut.0.relay: expected host:port/,
    );
    expect(() => compileConfig({ ...base, dialOut: [{ relay: "r:1" }, { relay: "r:1" }] })).toThrow(
      /relay r:1 is listed twice/,
    );
    expect(() => compileConfig({ ...base, dialOut: [{ relay: "r:1", certFile: "/c" }] })).toThrow(
      /certFile and keyFile go together/,
    );
    expect(() => compileConfig({ ...base, dialOut: [{ relay: "r:1", url: "x" }] })).toThrow(/unknown key/);
    expect(() =>
      compileConfig({
        insecure: true,
        listen: "127.0.0.1:1",
        trustedPublicKeys: [key],
        dialOut: [{ relay: "r:1" }],
      }),
    ).toThrow(/dialOut: needs tls/);
  });

  it("the agent exits 78 (EX_CONFIG) on a bad dialOut, before doing anything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rl-agent-config-"));
    try {
      const file = join(dir, "agent.json");
      writeFileSync(file, JSON.stringify({ tls, trustedPublicKeys: [key], dialOut: [{ relay: "nope" }] }));
      const main = fileURLToPath(new URL("../main.ts", import.meta.url));
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, ["--import", "tsx", main, "--config", file], (e, _out, stderr) =>
          resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stderr }),
        );
      });
      expect(r.code).toBe(78);
      expect(r.stderr).toMatch(/dialOut.0.relay: expected host:port/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("back-off", () => {
  it("starts near 1 s, doubles, never exceeds 60 s, and is jittered", () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(500);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999_999)).toBe(1_000);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.999_999)).toBe(8_000);
    for (const n of [6, 7, 50, 1_000]) expect(backoffDelay(n, DEFAULT_BACKOFF, () => 0.999_999)).toBe(60_000);
    expect(backoffDelay(10, DEFAULT_BACKOFF, () => 0)).toBe(30_000);
  });
});
