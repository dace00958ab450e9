// The agent's relay links parse their TLS files once, and take renewed files on reloadTls (the
// agent's TLS watch and SIGHUP): a connected link dials again with the new certificate, checked by
// the relay in full, and the old connection's open stream finishes; files that do not parse leave
// the old material and the connection as they are.

import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { issueCert } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDialOut } from "../../agent/src/dial-out/start.js";
import { RelayClient } from "../../controller/src/relay/dial.js";
import type { RunningRelay } from "../../relay/src/index.js";
import { makeRelayPki, memoryLog, type RelayPki, relayFor, until } from "./rig.js";

let dir: string;
let pki: RelayPki;
let relay: RunningRelay;
let controller: ReturnType<typeof issueCert>;
const log = memoryLog();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-link-tls-"));
  pki = makeRelayPki(dir);
  controller = issueCert(dir, "controller", "relay-ca", "extendedKeyUsage=clientAuth\n");
  relay = await relayFor(pki, [pki.relayCa], log);
});

afterAll(async () => {
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

const serial = (pemFile: string) => new X509Certificate(readFileSync(pemFile)).serialNumber;

/** Serial numbers of the robot certificates the relay accepted, in order. */
const accepted = () => log.lines.filter((l) => l.msg === "robot connected").map((l) => l.fields.serial);

describe("the agent's relay links: TLS material parsed once, renewed on reload", () => {
  it("after reloadTls the link reconnects with the renewed certificate; an open stream finishes", async () => {
    const renewed = issueCert(
      dir,
      "robot-renewed",
      "relay-ca",
      "extendedKeyUsage=clientAuth\n",
      "/CN=rl-robot1",
    );
    const certFile = join(dir, "live.pem");
    const keyFile = join(dir, "live.key");
    copyFileSync(pki.robot.cert, certFile);
    copyFileSync(pki.robot.key, keyFile);
    const streams: Duplex[] = [];
    const out = await startDialOut(
      [{ relay: `127.0.0.1:${relay.robotPort}`, caFile: pki.relayCa, certFile, keyFile }],
      // An echo in place of the agent's gRPC server.
      (s: Duplex) => {
        streams.push(s);
        s.pipe(s);
      },
      undefined,
      pino({ level: "silent" }),
    );
    const client = new RelayClient({
      address: `127.0.0.1:${relay.controllerPort}`,
      ca: readFileSync(pki.relayCa),
      cert: readFileSync(controller.cert),
      key: readFileSync(controller.key),
    });
    const echo = async (s: Duplex, text: string) => {
      s.write(text);
      const [b] = (await once(s, "data")) as [Buffer];
      return b.toString();
    };
    try {
      const link = out.links[0];
      await until(() => link?.current === "connected", 5_000, "the link");
      expect(accepted()).toEqual([serial(pki.robot.cert)]);
      const open = await client.dial("rl-robot1", 3_000);
      expect(await echo(open, "before")).toBe("before");

      // A key that does not parse: reloadTls rejects, the old material and connection stay.
      writeFileSync(keyFile, "not a key");
      await expect(out.reloadTls()).rejects.toThrow();
      expect(link?.current).toBe("connected");
      expect(accepted()).toHaveLength(1);

      copyFileSync(renewed.cert, certFile);
      copyFileSync(renewed.key, keyFile);
      await out.reloadTls();
      await until(() => accepted().length === 2, 5_000, "the reconnect with the renewed certificate");
      expect(accepted()[1]).toBe(serial(renewed.cert));
      await until(() => link?.current === "connected", 5_000, "the renewed link");
      // The stream opened on the old connection still works; a new one rides the new connection.
      expect(await echo(open, "during")).toBe("during");
      const fresh = await client.dial("rl-robot1", 3_000);
      expect(await echo(fresh, "after")).toBe("after");
      open.destroy();
      fresh.destroy();
    } finally {
      client.close();
      out.stop();
    }
  });
});
