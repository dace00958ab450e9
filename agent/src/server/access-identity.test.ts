// Who started a deployment, as status names it, and identities that get nothing (or only what
// they are): escaped and bounded, over real mutual TLS against the access rig.
import { status } from "@grpc/grpc-js";
import type { GetStatusResponse } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_IDENTITY_TEXT } from "../access/identity.js";
import { testClient } from "../testing/server-rig.js";
import {
  type AccessRig,
  activateReq,
  md,
  opts,
  pushPaths,
  startAccessRig,
  stream,
  unary,
} from "./testing/access-rig.js";

let rig: AccessRig;
beforeAll(async () => {
  rig = await startAccessRig();
}, 60_000);
afterAll(async () => {
  await rig?.close();
});

describe("who started the deployment", () => {
  /** GetStatus as the reader sees it. */
  const statusAsReader = () =>
    new Promise<GetStatusResponse>((resolve, reject) => {
      const c = rig.as("reader");
      c.getStatus({}, md(), opts(), (e, r) => {
        c.close();
        if (e !== null) reject(e);
        else resolve(r);
      });
    });

  it("status names the certificate that deployed: escaped subject and fingerprint head, kept in the record", async () => {
    const c = rig.as("ci");
    expect(await stream(c.activate(activateReq(rig)))).toBeUndefined();
    c.close();
    const last = (await statusAsReader()).lastDeployment;
    expect(last?.id).toBe(rig.deployer.latest()?.id);
    expect(last?.startedBy).toMatch(
      /^CN=ci, URI=spiffe:\/\/fleet\/ci \[sha256 ([0-9A-F]{2}:){7}[0-9A-F]{2}…\]$/,
    );
    expect(rig.deployer.latest()?.startedBy).toBe(last?.startedBy);
  });

  it("an operator's 2 kB SAN URI is recorded escaped and bounded, fingerprint head intact", async () => {
    const c = rig.as("longOperator");
    expect(await stream(c.activate(activateReq(rig)))).toBeUndefined();
    c.close();
    const by = (await statusAsReader()).lastDeployment?.startedBy ?? "";
    expect(by).toMatch(
      /^CN=client, URI=spiffe:\/\/fleet\/x\/\\u0007a+… \(\d+ more characters\) \[sha256 [0-9A-F:]{23}…\]$/,
    );
    // The subject cut at MAX_IDENTITY_TEXT, its "(N more characters)" note and the fingerprint head.
    expect(by.length).toBeLessThan(MAX_IDENTITY_TEXT + 80);
  });
});

describe("identities that get nothing, or only what they are", () => {
  it.each([
    ["a certificate no rule names", "stranger", /CN=stranger, O=elsewhere/],
    [
      "a newline in the CN (forging CN=client on a second line)",
      "newline",
      /CN=reader\\u000aCN=client, O=fleet/,
    ],
    ["two CNs (client and reader)", "twoCn", /CN=client, CN=reader, O=fleet/],
    [
      "a 2 kB SAN URI under spiffe://fleet/ops/",
      "longUri",
      /URI=spiffe:\/\/fleet\/ops\/a+… \(\d+ more characters\)/,
    ],
    [
      "a SAN URI holding ', URI:spiffe://fleet/ops'",
      "commaUri",
      /URI=spiffe:\/\/x, URI:spiffe:\/\/fleet\/ops/,
    ],
    ["a bidi override in the CN", "bidi", /CN=\\u202eredaer, O=fleet/],
    ["no CN at all", "emptySubject", /^permission denied to O=fleet \[/],
  ])("%s: refused even GetStatus, named escaped and bounded", async (_what, name, named) => {
    const c = rig.as(name);
    const e = await unary(c.getStatus.bind(c), {});
    expect(e?.code).toBe(status.PERMISSION_DENIED);
    expect(e?.details).toMatch(named);
    expect(e?.details).toMatch(/lacks role "read" needed for GetStatus$/);
    expect(e?.details.length).toBeLessThan(450);
    expect(e?.details).not.toMatch(/[\n\r\u202e]/);
    c.close();
  });

  it("a certificate from another CA with the operator's subject does not get past the handshake", async () => {
    const c = rig.as("rogueClient");
    const e = await unary(c.getStatus.bind(c), {});
    expect(e?.code).toBe(status.UNAVAILABLE);
    expect(await rig.rawPush("rogueClient")).toBeUndefined();
    expect(rig.pushesReached).toBe(0);
    c.close();
  });

  it("the operator (all roles) may do everything the others may not", async () => {
    const c = testClient(rig.pki, rig.server.port, { "grpc.use_local_subchannel_pool": 1 });
    expect(await unary(c.hold.bind(c), { name: "op", reason: "r" })).toBeUndefined();
    expect(await unary(c.release.bind(c), { name: "op" })).toBeUndefined();
    expect(await pushPaths(c)).toBeUndefined();
    expect(await rig.rawPush("client")).toBeUndefined();
    expect(rig.pushesReached).toBe(2);
    c.close();
  });
});
