// The agent's relay links parse their TLS files once, and take renewed files on reloadTls (the
// agent's TLS watch and SIGHUP): the next stream presents the new certificate in a full handshake,
// never a session the old one authenticated; files that do not parse leave the old material.

import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { issueCert } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDialOut } from "../../agent/src/dial-out/start.js";
import { dialThroughRelay } from "../../controller/src/relay/dial.js";
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

describe("the agent's relay links: TLS material parsed once, renewed on reload", () => {
  it("after reloadTls the next stream presents the renewed certificate, in a full handshake", async () => {
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
    const streams: { reused: boolean; serial: string | undefined }[] = [];
    const out = await startDialOut(
      [{ relay: `127.0.0.1:${relay.robotPort}`, caFile: pki.relayCa, certFile, keyFile }],
      (s: Duplex) => {
        const t = s as TLSSocket;
        streams.push({ reused: t.isSessionReused(), serial: t.getX509Certificate()?.serialNumber });
        s.destroy();
      },
      undefined,
      pino({ level: "silent" }),
    );
    try {
      const link = out.links[0];
      await until(() => link?.current === "connected", 5_000, "the link");
      const endpoint = {
        address: `127.0.0.1:${relay.controllerPort}`,
        ca: readFileSync(pki.relayCa),
        cert: readFileSync(controller.cert),
        key: readFileSync(controller.key),
      };
      const stream = async () => {
        (await dialThroughRelay(endpoint, "rl-robot1", 3_000)).destroy();
        await until(() => streams.length > 0, 3_000, "the robot's stream");
        return streams.shift();
      };
      // Before: streams resume the control connection's session, with the first certificate.
      await stream(); // the session ticket may arrive after the first stream's dial
      expect(await stream()).toEqual({ reused: true, serial: serial(pki.robot.cert) });

      // A key that does not parse: reloadTls rejects, the old material stays in use.
      writeFileSync(keyFile, "not a key");
      await expect(out.reloadTls()).rejects.toThrow();
      expect((await stream())?.serial).toBe(serial(pki.robot.cert));

      copyFileSync(renewed.cert, certFile);
      copyFileSync(renewed.key, keyFile);
      await out.reloadTls();
      expect(await stream()).toEqual({ reused: false, serial: serial(renewed.cert) });
      expect(link?.current).toBe("connected"); // the control connection stays
    } finally {
      out.stop();
    }
  });
});
