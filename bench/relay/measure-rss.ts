// What a relay costs per connected robot: one relay process, N real agent tunnel links (RelayLink)
// in a second process, the relay's RSS before and after, and `query` of all N through the relay.
// Usage: node --import tsx bench/relay/measure-rss.ts [N]   (prints one JSON line)
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueCert, makeCa } from "@ros-rollback/proto/testing";

const n = Number(process.argv[2] ?? 1000);
const role = process.argv[3];

if (role === "relay") {
  const dir = process.argv[4] as string;
  const { startRelay } = await import("../../relay/src/index.js");
  const r = (f: string) => readFileSync(join(dir, f));
  const relay = await startRelay({
    robotListen: { host: "127.0.0.1", port: 0 },
    controllerListen: { host: "127.0.0.1", port: 0 },
    tls: { cert: r("relay.pem"), key: r("relay.key"), robotCa: r("ca.pem"), controllerCa: r("ca.pem") },
    log: { info: () => undefined, warn: () => undefined },
  });
  process.send?.({ robotPort: relay.robotPort, controllerPort: relay.controllerPort });
  process.on("message", () => {
    globalThis.gc?.();
    process.send?.({ rss: process.memoryUsage().rss, connected: relay.registry.size });
  });
} else if (role === "robots") {
  const dir = process.argv[4] as string;
  const port = Number(process.argv[5]);
  const { RelayLink } = await import("../../agent/src/dial-out/relay-link.js");
  const tls = {
    ca: readFileSync(join(dir, "ca.pem")),
    cert: readFileSync(join(dir, "robot.pem")),
    key: readFileSync(join(dir, "robot.key")),
  };
  for (let i = 0; i < n; i++) {
    // A certificate each: the relay keys robots by CN (one shared CN would collapse them: newer wins).
    const cert = readFileSync(join(dir, `r${i}.pem`));
    const key = readFileSync(join(dir, `r${i}.key`));
    new RelayLink({
      host: "127.0.0.1",
      port,
      tls: { ...tls, cert, key },
      onStream: (s) => s.destroy(),
      log: { info: () => undefined, warn: () => undefined },
    }).start();
    if (i % 50 === 49) await new Promise((res) => setTimeout(res, 50));
  }
  process.send?.("started");
} else {
  const dir = mkdtempSync(join(tmpdir(), "rl-rss-"));
  try {
    makeCa(dir, "ca");
    issueCert(dir, "relay", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    issueCert(dir, "robot", "ca", "extendedKeyUsage=clientAuth\n");
    for (let i = 0; i < n; i++)
      issueCert(dir, `r${i}`, "ca", "extendedKeyUsage=clientAuth\n", `/CN=rl-sim-${i}`);
    const self = new URL(import.meta.url).pathname;
    const relay = fork(self, [String(n), "relay", dir], { execArgv: ["--import", "tsx", "--expose-gc"] });
    const ports = await new Promise<{ robotPort: number }>((res) =>
      relay.once("message", (m) => res(m as { robotPort: number })),
    );
    const ask = () =>
      new Promise<{ rss: number; connected: number }>((res) => {
        relay.once("message", (m) => res(m as { rss: number; connected: number }));
        relay.send("rss");
      });
    const before = await ask();
    const robots = fork(self, [String(n), "robots", dir, String(ports.robotPort)], {
      execArgv: ["--import", "tsx"],
    });
    await new Promise((res) => robots.once("message", res));
    let after = await ask();
    const t0 = Date.now();
    while (after.connected < n && Date.now() - t0 < 120_000) {
      await new Promise((res) => setTimeout(res, 500));
      after = await ask();
    }
    process.stdout.write(
      `${JSON.stringify({ robots: after.connected, rssBeforeMB: +(before.rss / 1e6).toFixed(1), rssAfterMB: +(after.rss / 1e6).toFixed(1), perRobotKB: +((after.rss - before.rss) / after.connected / 1e3).toFixed(1), connectSeconds: (Date.now() - t0) / 1000 })}\n`,
    );
    robots.kill();
    relay.kill();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
