import { describe, expect, it } from "vitest";
import { compileConfig } from "../config/load.js";

const base = {
  listen: "0.0.0.0:50051",
  tls: { caFile: "/ca.pem", certFile: "/a.pem", keyFile: "/a.key" },
  trustedPublicKeys: ["lab-1:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28="],
};

describe("metrics and logging config keys", () => {
  it("serves metrics on loopback port 9464 by default, and logs to journald when it can", () => {
    const c = compileConfig(base);
    expect(c.metrics).toEqual({ listen: "127.0.0.1:9464", tls: undefined });
    expect(c.logTarget).toBe("auto");
  });

  it("takes a listen address, TLS, or enabled: false", () => {
    expect(compileConfig({ ...base, metrics: { listen: "10.0.0.2:9100" } }).metrics?.listen).toBe(
      "10.0.0.2:9100",
    );
    expect(
      compileConfig({ ...base, metrics: { tls: { certFile: "/m.pem", keyFile: "/m.key" } } }).metrics?.tls,
    ).toEqual({ certFile: "/m.pem", keyFile: "/m.key", caFile: undefined });
    expect(compileConfig({ ...base, metrics: { enabled: false } }).metrics).toBeUndefined();
    expect(compileConfig({ ...base, logTarget: "stdout" }).logTarget).toBe("stdout");
  });

  it("refuses bad values and unknown keys, naming them", () => {
    expect(() => compileConfig({ ...base, metrics: { listen: "9464" } })).toThrow(
      /metrics.listen: expected host:port/,
    );
    expect(() => compileConfig({ ...base, metrics: { port: 1 } })).toThrow(/unknown key "metrics.port"/);
    expect(() => compileConfig({ ...base, logTarget: "syslog" })).toThrow(/logTarget/);
  });
});
