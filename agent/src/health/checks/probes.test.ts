import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessRunner } from "../../system/command.js";
import { freePort } from "../testing/ros-fixture.js";
import { execProbe, httpProbe } from "./probes.js";

const runner = new ProcessRunner();
const never = new AbortController().signal;

describe("exec probe (real processes)", () => {
  const exec = (argv: string[], timeoutSeconds = 5) =>
    execProbe(runner, { name: "p", argv, timeoutSeconds }, never);

  it("is healthy on exit 0", async () => {
    expect(await exec(["/bin/true"])).toEqual({ healthy: true, reason: "exec p exited 0" });
  });

  it("is unhealthy on another exit status, with the last line it printed", async () => {
    expect(await exec(["/bin/sh", "-c", "echo starting; echo 'disk full' >&2; exit 3"])).toEqual({
      healthy: false,
      reason: "exec p exited 3: disk full",
    });
  });

  it("is killed and unhealthy at its timeout", async () => {
    const started = Date.now();
    expect(await exec(["/bin/sleep", "60"], 0.2)).toEqual({
      healthy: false,
      reason: "exec p timed out after 0.2 s",
    });
    expect(Date.now() - started).toBeLessThan(10_000); // far from the 60 s the child would take
  });

  it("is unhealthy when the program does not exist", async () => {
    const v = await exec(["/nonexistent/probe"]);
    expect(v.healthy).toBe(false);
    expect(v.reason).toMatch(/exec p: cannot run \/nonexistent\/probe: .*ENOENT/);
  });
});

describe("http probe (real server on 127.0.0.1)", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/ok") res.end("fine");
      else if (req.url === "/down") res.writeHead(503).end("no");
      else if (req.url === "/moved") res.writeHead(302, { location: "/ok" }).end();
      // /hang: never answers.
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const probe = (path: string, expectStatus = 200, timeoutSeconds = 5) =>
    httpProbe(fetch, { name: "api", url: `${base}${path}`, expectStatus, timeoutSeconds }, never);

  it("is healthy on the expected status", async () => {
    expect(await probe("/ok")).toEqual({ healthy: true, reason: "http api returned 200" });
    expect((await probe("/moved", 302)).healthy).toBe(true);
  });

  it("is unhealthy on another status (redirects are not followed)", async () => {
    expect(await probe("/down")).toEqual({
      healthy: false,
      reason: `http api GET ${base}/down returned 503 (expected 200)`,
    });
    expect((await probe("/moved")).reason).toMatch(/returned 302 \(expected 200\)/);
  });

  it("is unhealthy at its timeout when the server does not answer", async () => {
    const started = Date.now();
    expect(await probe("/hang", 200, 0.2)).toEqual({
      healthy: false,
      reason: `http api GET ${base}/hang timed out after 0.2 s`,
    });
    expect(Date.now() - started).toBeLessThan(10_000); // far from the 60 s the child would take
  });

  it("is unhealthy when nothing listens, with the network error", async () => {
    const url = `http://127.0.0.1:${await freePort()}/`;
    const v = await httpProbe(fetch, { name: "api", url, expectStatus: 200, timeoutSeconds: 2 }, never);
    expect(v.healthy).toBe(false);
    expect(v.reason).toMatch(/failed: .*ECONNREFUSED/);
  });
});
