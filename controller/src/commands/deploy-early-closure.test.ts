import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { beforeEach, describe, expect, it } from "vitest";
import { computeClosure } from "../closure/compute-closure.js";
import type { ClosureOps } from "../closure/port.js";
import { useCliRig, waitFor } from "../testing/cli-rig.js";
import { fakeClosure } from "../testing/fake-closure.js";
import { CLOSURE, IDLE_STATUS, SYSTEM, switchEvents } from "../testing/robot-fixtures.js";

// deploy starts the closure's `nix` before it connects (issue 13): the errors keep their order
// (a connect or GetStatus failure wins over a bad store path) and an unused `nix` child is ended.
// Real grpc-js over mutual TLS on 127.0.0.1; real nix, or a real stand-in process for it.

const rig = useCliRig({ name: "deploy-early", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

const root = SYSTEM.storePath;
const missing = `/nix/store/${"0".repeat(32)}-not-in-this-store`;

/** The real computeClosure, with `nix` from `nixBinDir` when given. */
function realClosure(nixBinDir?: string): ClosureOps {
  return {
    ...fakeClosure([]),
    computeClosure: (path, signal) =>
      computeClosure(path, signal, nixBinDir === undefined ? {} : { nixBinDir }),
  };
}

/** A `nix` that writes its pid to `pidFile` and then waits a minute. */
function slowNix(): { dir: string; pidFile: string } {
  const pidFile = join(rig.dir, `nix-${Date.now()}.pid`);
  writeFileSync(
    join(rig.dir, "nix"),
    `#!/bin/sh\necho $$ > ${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile}\nexec sleep 60\n`,
  );
  chmodSync(join(rig.dir, "nix"), 0o755);
  return { dir: rig.dir, pidFile };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("deploy computes the closure beside the connect", () => {
  it("starts computeClosure before its first call to the agent; the log keeps its order", async () => {
    const callsAtStart: number[] = [];
    const fake = fakeClosure(CLOSURE);
    const closure: ClosureOps = {
      ...fake,
      computeClosure: (path, signal) => {
        callsAtStart.push(rig.agent.calls.length);
        return fake.computeClosure(path, signal);
      },
    };
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () => switchEvents([]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--no-confirm"], { closure });
    expect(callsAtStart).toEqual([0]);
    expect(rig.methods().slice(0, 2)).toEqual(["getStatus", "queryMissingPaths"]);
    const status = r.stderr.indexOf("is on generation");
    const computing = r.stderr.indexOf(`computing the closure of ${root}`);
    expect(status).toBeGreaterThanOrEqual(0);
    expect(computing).toBeGreaterThan(status);
  });

  it("asks QueryMissingPaths for the closure before GetStatus is answered; the log keeps its order", async () => {
    // The first GetStatus answers only once the query came (or after 3 s: without the early query,
    // it came too late); later ones (the outcome, asked again) at once.
    const queriedBeforeStatus: boolean[] = [];
    rig.agent.handlers.getStatus = async () => {
      if (queriedBeforeStatus.length === 0) {
        const queried = await waitFor(() => rig.methods().includes("queryMissingPaths"), 3_000).then(
          () => true,
          () => false,
        );
        queriedBeforeStatus.push(queried);
      }
      return IDLE_STATUS;
    };
    let asked: string[] = [];
    rig.agent.handlers.queryMissingPaths = (paths) => {
      asked = paths;
      return [];
    };
    rig.agent.handlers.activate = () => switchEvents([]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--no-confirm"]);
    expect(r.stderr).toContain(`activating (switch) ${root}`);
    expect(queriedBeforeStatus).toEqual([true]);
    expect(asked).toEqual(CLOSURE.map((p) => p.storePath));
    expect(rig.methods().filter((m) => m === "queryMissingPaths")).toHaveLength(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `is on generation [^\\n]*\\ncomputing the closure of ${root}\\n[^\\n]*0 of ${CLOSURE.length} paths missing`,
      ),
    );
  });

  it("GetStatus failing wins over a failing early QueryMissingPaths", async () => {
    rig.agent.handlers.getStatus = async () => {
      await waitFor(() => rig.methods().includes("queryMissingPaths"));
      return { error: { code: status.PERMISSION_DENIED, details: "not for you" } };
    };
    rig.agent.handlers.queryMissingPaths = () => ({
      error: { code: status.INTERNAL, details: "store broke" },
    });
    const r = await rig.run(["deploy", root, ...rig.target()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*PERMISSION_DENIED.*not for you/m);
    expect(r.stderr).not.toMatch(/store broke|computing the closure/);
  });

  it("a failing early QueryMissingPaths fails the deploy after the status line, once", async () => {
    rig.agent.handlers.queryMissingPaths = () => ({
      error: { code: status.INTERNAL, details: "store broke" },
    });
    const r = await rig.run(["deploy", root, ...rig.target()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /is on generation [^\n]*\ncomputing the closure of [^\n]*\nerror: .*store broke/,
    );
    expect(rig.methods()).toEqual(["getStatus", "queryMissingPaths"]);
  });

  it("GetStatus failing wins over a bad store path, and the nix child is ended", async () => {
    const nix = slowNix();
    // Fails only once the nix child runs, so the test sees it ended rather than never started.
    rig.agent.handlers.getStatus = async () => {
      await waitFor(() => existsSync(nix.pidFile));
      return { error: { code: status.PERMISSION_DENIED, details: "not for you" } };
    };
    const r = await rig.run(["deploy", missing, ...rig.target()], { closure: realClosure(nix.dir) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*PERMISSION_DENIED.*not for you/m);
    expect(r.stderr).not.toMatch(/computing the closure|store path|path-info/);
    const pid = Number(readFileSync(nix.pidFile, "utf8"));
    await waitFor(() => !alive(pid));
  });

  it("an unreachable agent wins over a store path that does not exist", async () => {
    const port = await freePort();
    const file = rig.writeInventory("down.json", { robot1: rig.robot({ address: `127.0.0.1:${port}` }) });
    const r = await rig.run(
      ["deploy", "./no-such-result", "--inventory", file, "--target", "robot1", "--connect-timeout", "1"],
      { closure: realClosure() },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: robot1: UNAVAILABLE: cannot reach the agent/);
    expect(r.stderr).not.toMatch(/no-such-result/);
  });

  it("a store path that does not exist: the same one-line error, after the status line", async () => {
    const r = await rig.run(["deploy", "./no-such-result", ...rig.target()], { closure: realClosure() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is on generation [^\n]*\nerror: store path \.\/no-such-result: /);
    expect(rig.methods()).toEqual(["getStatus"]);
  });

  it("a store path the local store lacks: nix's error, after the status line (real nix)", async () => {
    const r = await rig.run(["deploy", missing, ...rig.target()], { closure: realClosure() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `is on generation [^\\n]*\\ncomputing the closure of ${missing}\\nerror: nix .*path-info .*failed \\(exit 1\\)`,
      ),
    );
    expect(rig.methods()).toEqual(["getStatus"]);
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
