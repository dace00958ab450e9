import { createServer } from "node:net";
import { beforeEach, describe, expect, it } from "vitest";
import type { ClosureOps } from "../closure/port.js";
import { InterruptedError } from "../core/errors.js";
import { useCliRig, waitFor } from "../testing/cli-rig.js";
import { fakeClosure } from "../testing/fake-closure.js";
import { acceptPush, CLOSURE, IDLE_STATUS, SYSTEM, switchEvents } from "../testing/robot-fixtures.js";

// deploy: an unreachable agent, SIGINT, and a bug.
// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({ name: "deploy-interrupt", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

const root = SYSTEM.storePath;

describe("deploy", () => {
  it("exit 1 with one line when the agent is unreachable, within the connect timeout", async () => {
    const port = await freePort();
    const file = rig.writeInventory("down.json", { robot1: rig.robot({ address: `127.0.0.1:${port}` }) });
    const started = Date.now();
    const r = await rig.run([
      "deploy",
      root,
      "--inventory",
      file,
      "--target",
      "robot1",
      "--connect-timeout",
      "1",
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: robot1: UNAVAILABLE: cannot reach the agent at 127\\.0\\.0\\.1:${port} within 1s: connect ECONNREFUSED [\\d.:]+\\n$`,
      ),
    );
    expect(r.stdout).toMatch(/^robot1: deploy unchanged: robot1: UNAVAILABLE/);
  });

  it("SIGINT during the push: exit 1, nothing activated, the push is cancelled", async () => {
    rig.agent.handlers.queryMissingPaths = (paths) => paths;
    rig.agent.handlers.pushPaths = acceptPush;
    const interrupt = new AbortController();
    let chunks = 0;
    const closure = fakeClosure(CLOSURE, {
      chunkSize: 1024,
      beforeChunk: async () => {
        if (++chunks === 5) interrupt.abort(new InterruptedError());
      },
    });
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"], {
      closure,
      signal: interrupt.signal,
    });
    expect(r.code).toBe(1);
    expect(rig.methods()).not.toContain("activate");
    expect(r.json()).toMatchObject({ outcome: "unchanged", exitCode: 1 });
    expect(r.stderr).toMatch(/^error: interrupted before activation; nothing was changed on robot1/m);
  });

  it("SIGINT while following the activation: exit 3, says the agent carries on", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () => switchEvents([{ hang: true }]);
    const interrupt = new AbortController();
    const closure = fakeClosure(CLOSURE);
    const running = rig.run(["deploy", root, ...rig.target(), "--json"], {
      closure,
      signal: interrupt.signal,
    });
    await waitFor(() => rig.methods().includes("activate"));
    await new Promise((r) => setTimeout(r, 100));
    interrupt.abort(new InterruptedError());
    const r = await running;
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ outcome: "uncertain", exitCode: 3 });
    expect(r.json().reason).toMatch(/interrupted after ACTIVATING; the agent carries on with the deployment/);
    await waitFor(() => rig.agent.cancelled.includes("activate"));
  });

  it("a bug in a dependency exits 70 with a stack trace", async () => {
    const closure: ClosureOps = {
      ...fakeClosure(CLOSURE),
      computeClosure: async () => {
        throw new TypeError("cannot read properties of undefined");
      },
    };
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"], { closure });
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/internal error — this is a bug/);
    expect(r.stderr).toMatch(/TypeError: cannot read properties of undefined\n\s+at /);
    expect(r.json()).toEqual({ error: { message: "internal error (bug)", exitCode: 70 } });
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()));
    });
  });
}
