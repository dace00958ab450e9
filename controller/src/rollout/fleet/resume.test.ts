import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as closure from "../../closure/index.js";
import type { ClosureOps } from "../../closure/port.js";
import { pushRequests } from "../../push/push-requests.js";
import { importAll, useFleetRig } from "../../testing/fleet-rig.js";
import { SimulatedAgent } from "../../testing/simulated-agent.js";

// A controller killed mid-rollout (SIGKILL: no cleanup at all), picked up by
// `rollout resume ID` from the robots alone. The killed controller is the
// real CLI in a child process; the robots are simulated agents over real
// gRPC with mutual TLS; the system is a real (tiny) path in the Nix store.

const NAMES = ["r1", "r2", "r3", "r4"] as const;
const NIX_CONFIG = "build-users-group =\nsandbox = false\nsubstituters =";
const CLI = resolve(import.meta.dirname, "../../cli.ts");
/** Where `--import tsx` resolves. */
const REPO = resolve(import.meta.dirname, "../../../..");

const fleetRig = useFleetRig("resume", NAMES);
let storePath: string;
const timeline: string[] = [];
let child: ChildProcess | undefined;

const closureOps: ClosureOps = {
  computeClosure: (p, signal) => closure.computeClosure(p, signal, { env: { ...process.env, NIX_CONFIG } }),
  signPaths: (infos, key, signal) => closure.signPaths(infos, key, signal),
  pushRequests: (infos, options, signal) => pushRequests(infos, options, signal),
  uploadClosure: (storePath, storeUri, key, signal) =>
    closure.uploadClosure(storePath, storeUri, key, signal),
};

beforeAll(() => {
  const dir = fleetRig.rig.dir;
  writeFileSync(join(dir, "system.txt"), `a system for the resume test ${dir}\n`);
  storePath = execFileSync("nix-store", ["--add", join(dir, "system.txt")], {
    env: { ...process.env, NIX_CONFIG },
    encoding: "utf8",
  }).trim();
  for (const name of NAMES) {
    const a = fleetRig.agent(name);
    a.handlers = { queryMissingPaths: (paths) => paths, pushPaths: importAll() };
    const sim = new SimulatedAgent(a, {
      id: `d-${name}`,
      stepMs: 5,
      // Long enough for the resuming controller to find r2 still waiting for its Confirm.
      confirmWindowMs: 15_000,
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_PENDING) timeline.push(`start:${name}`);
      },
    });
    void sim.done.then(() => timeline.push(`end:${name}`));
  }
});

afterAll(() => {
  child?.kill("SIGKILL");
});

async function cli(argv: string[]) {
  return fleetRig.cli(argv, { closure: closureOps, realClock: true });
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 3000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error(`never happened: ${what}`);
}

const activations = (name: string) => fleetRig.calls(name, "activate").length;

describe("rollout resume", () => {
  it("picks up a rollout whose controller was SIGKILLed, from the robots alone", {
    timeout: 90_000,
  }, async () => {
    let stderr = "";
    child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        CLI,
        "deploy",
        storePath,
        "--inventory",
        fleetRig.inventory,
        "--all",
        "--batch",
        "1",
      ],
      { cwd: REPO, env: { ...process.env, NIX_CONFIG }, stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    await until("r2 started", () => timeline.includes("start:r2")).catch((e: Error) => {
      throw new Error(`${e.message}; the controller said:\n${stderr}`);
    });
    child.kill("SIGKILL");
    await new Promise((r) => child?.once("exit", r));
    const id = /rollout (r-\d{14}-[0-9a-f]{6}): deploy to 4 robots/.exec(stderr)?.[1];
    expect(id, stderr).toBeDefined();
    const rolloutId = id ?? "";

    const before = await cli(["rollout", "status", rolloutId, "--json"]);
    expect(before.code).toBe(0);
    expect(before.json()).toMatchObject({
      rolloutId,
      storePath,
      action: "switch",
      strategy: { batch: "1" },
      robots: [
        { target: "r1", wave: 1, state: "succeeded" },
        { target: "r2", wave: 2, state: "running" },
        { target: "r3", wave: 3, state: "pending" },
        { target: "r4", wave: 4, state: "pending" },
      ],
    });

    const r = await cli(["rollout", "resume", rolloutId, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json() as { robots: { target: string; outcome: string; report: unknown }[] };
    expect(doc).toMatchObject({ rolloutId, outcome: "succeeded", exitCode: 0 });
    expect(doc.robots.map((x) => [x.target, x.outcome, x.report === null])).toEqual([
      ["r1", "succeeded", true], // recorded on the robot, not run again
      ["r2", "succeeded", false], // re-attached and confirmed
      ["r3", "succeeded", false],
      ["r4", "succeeded", false],
    ]);
    expect(r.stderr).toMatch(/r2: re-attaching to d-r2/);
    expect(r.stderr).toMatch(/r2: confirmed d-r2 over a new connection/);
    for (const name of NAMES) expect(activations(name)).toBe(1);
    for (const name of ["r3", "r4"]) {
      const request = fleetRig.calls(name, "activate")[0]?.request;
      expect(request).toMatchObject({
        storePath,
        options: { label: expect.stringContaining(`rollout=${rolloutId};`) },
      });
    }
  });

  it("refuses an id no selected robot knows, and a malformed one", async () => {
    const unknown = await cli(["rollout", "status", "r-20000101000000-abcdef"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no robot of the 4 selected records rollout r-20000101000000-abcdef/);
    const bad = await cli(["rollout", "status", "x".repeat(5000)]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.length).toBeLessThan(400);
  });
});
