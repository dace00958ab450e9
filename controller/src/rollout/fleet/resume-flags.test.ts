import { join } from "node:path";
import type { SubstituteProgress } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { fakeClosure, pathInfo } from "../../testing/fake-closure.js";
import { importAll, MISSION, useFleetRig } from "../../testing/fleet-rig.js";
import { SimulatedAgent } from "../../testing/simulated-agent.js";

// `rollout resume` takes deploy's --transfer, --upload-to and --override-hold (parsed by the same
// functions): a rollout that skipped a held robot is resumed with them. One simulated agent per
// robot over real gRPC with mutual TLS on 127.0.0.1; the CLI in-process on a virtual clock.

const NAMES = ["r1", "r2"] as const;
const GLIBC = pathInfo("glibc", 64 * 1024);
const SYSTEM = pathInfo("nixos-system-fleet", 3 * 1024, [GLIBC.storePath]);
const CLOSURE = [GLIBC, SYSTEM];

const fleetRig = useFleetRig("resume-flags", NAMES);
const sims = new Map<string, SimulatedAgent>();
/** The paths each robot has (been sent or fetched). */
const stores = new Map<string, Set<string>>();
/** The paths the robots' own binary caches hold. */
let cached = new Set<string>();

const agent = (name: string) => fleetRig.agent(name);
const sim = (name: string) => sims.get(name) as SimulatedAgent;
const calls = (name: string, method: string) => fleetRig.calls(name, method);

/** Both robots afresh, r2 held by MISSION; each lacks what it has not been sent or fetched. */
function fleet(): void {
  cached = new Set(CLOSURE.map((p) => p.storePath));
  for (const name of NAMES) {
    const valid = new Set<string>();
    stores.set(name, valid);
    const a = agent(name);
    a.calls.length = 0;
    a.handlers = {
      queryMissingPaths: (paths) => paths.filter((p) => !valid.has(p)),
      pushPaths: importAll((paths) => {
        for (const p of paths) valid.add(p);
      }),
      querySubstitutable: (paths) => ({
        paths: paths
          .filter((p) => cached.has(p))
          .map((storePath) => ({ storePath, cacheUrl: "http://cache", narSize: 1, fileSize: 0 })),
        unreachable: [],
      }),
      substitute: (paths): SubstituteProgress[] => {
        for (const p of paths) valid.add(p);
        const n = { pathsTotal: paths.length, narBytesTotal: paths.length, pathsAlreadyValid: 0 };
        return [{ ...n, pathsDone: paths.length, narBytesDone: paths.length, done: true }];
      },
    };
    const s = new SimulatedAgent(a, { id: `d-${name}`, stepMs: 2, confirmWindowMs: 5_000 });
    s.holds = name === "r2" ? [MISSION] : [];
    sims.set(name, s);
  }
}

async function cli(argv: string[]) {
  const closure = fakeClosure(CLOSURE);
  const r = await fleetRig.cli(argv, { closure });
  return { code: r.code, stderr: r.stderr, closure, doc: r.json };
}

/** A rollout that deployed r1 and skipped r2 (held, after the transfer); then r2 starts afresh. */
async function skippedHeld(): Promise<string> {
  fleet();
  const first = await cli(["deploy", SYSTEM.storePath, "--all", "--batch", "1", "--json"]);
  expect(first.code, first.stderr).toBe(6);
  agent("r2").calls.length = 0;
  stores.get("r2")?.clear();
  return String(first.doc().rolloutId);
}

const r2 = (doc: Record<string, unknown>) =>
  (doc.robots as { target: string; outcome: string; reason: string }[]).find((x) => x.target === "r2");

describe("rollout resume --override-hold", () => {
  it("goes ahead despite the named hold on every robot it deploys, warns first, and says so in the JSON", async () => {
    const id = await skippedHeld();
    const still = await cli(["rollout", "resume", id, "--json"]);
    expect(still.code).toBe(6);
    expect(r2(still.doc())?.outcome).toBe("skipped");

    const r = await cli(["rollout", "resume", id, "--json", "--override-hold", "mission"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc()).toMatchObject({ outcome: "succeeded", overrideHolds: ["mission"] });
    expect(calls("r2", "activate").at(-1)?.request).toMatchObject({ overrideHolds: ["mission"] });
    expect(sim("r2").last?.overriddenHolds).toEqual(["mission"]);
    const warning = r.stderr.indexOf("warning: overriding hold(s): mission\n");
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(warning).toBeLessThan(r.stderr.indexOf("r2: activating"));
    // r1 finished in the first run: not deployed again.
    expect(calls("r1", "activate")).toHaveLength(1);
  });
});

describe("rollout resume --transfer and --upload-to", () => {
  it("--transfer push: the robot is not asked about its caches; everything is pushed", async () => {
    const id = await skippedHeld();
    sim("r2").holds = [];
    const r = await cli(["rollout", "resume", id, "--json", "--transfer", "push"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r2(r.doc())?.outcome).toBe("succeeded");
    expect(calls("r2", "querySubstitutable")).toEqual([]);
    expect(calls("r2", "pushPaths")).toHaveLength(1);
  });

  it("--transfer substitute: the robot fetches from its caches, nothing is pushed; a path they lack fails it", async () => {
    const id = await skippedHeld();
    sim("r2").holds = [];
    const r = await cli(["rollout", "resume", id, "--json", "--transfer", "substitute"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r2(r.doc())?.outcome).toBe("succeeded");
    expect(calls("r2", "substitute")).toHaveLength(1);
    expect(calls("r2", "pushPaths")).toEqual([]);

    // Where auto would push what the caches lack, substitute does not.
    const again = await skippedHeld();
    sim("r2").holds = [];
    cached.delete(GLIBC.storePath);
    const lacking = await cli(["rollout", "resume", again, "--json", "--transfer", "substitute"]);
    expect(lacking.code).not.toBe(0);
    expect(r2(lacking.doc())).toMatchObject({
      outcome: "skipped",
      reason: expect.stringContaining("1 of 2 missing paths are in none of the robot's caches"),
    });
    expect(calls("r2", "pushPaths")).toEqual([]);
    expect(calls("r2", "activate")).toEqual([]);
  });

  it("--upload-to: the closure is uploaded once, signed with --sign-key, then substituted", async () => {
    const id = await skippedHeld();
    sim("r2").holds = [];
    const r = await cli([
      ...["rollout", "resume", id, "--json"],
      ...["--upload-to", "file:///srv/cache", "--sign-key", "key.sec"],
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.closure.uploaded).toEqual([
      {
        storePath: SYSTEM.storePath,
        storeUri: "file:///srv/cache",
        secretKeyFile: join(fleetRig.rig.dir, "key.sec"),
      },
    ]);
    expect(calls("r2", "substitute")).toHaveLength(1);
    expect(calls("r2", "pushPaths")).toEqual([]);
  });
});

describe("rollout resume: bad values", () => {
  const overrides = (n: number) => Array.from({ length: n }, (_, i) => ["--override-hold", `h${i}`]).flat();
  it.each([
    [
      "an unknown mode",
      ["--transfer", "pull"],
      /^error: --transfer: expected one of auto, push, substitute, got "pull"$/,
    ],
    [
      "a huge mode, with a newline",
      ["--transfer", `x${"y".repeat(5000)}\nz`],
      /^error: --transfer: expected one of .*, got "xy{39}"$/,
    ],
    ["an empty store URI", ["--upload-to", ""], /^error: --upload-to: expected a store URI$/],
    [
      "--upload-to with push",
      ["--upload-to", "file:///x", "--transfer", "push"],
      /^error: --upload-to uploads for the robots to substitute; it needs --transfer auto or substitute$/,
    ],
    [
      "an unprintable hold name",
      ["--override-hold", "bad\u0007name"],
      /^error: --override-hold: "bad\\u0007name" \(8 characters\) is not a hold name/,
    ],
    ["33 hold names", overrides(33), /^error: --override-hold: at most 32 holds, got 33$/],
  ])("%s: one-line usage error, exit 1, no robot asked anything", async (_, flags, message) => {
    fleet();
    const r = await cli(["rollout", "resume", "r-20261129160102-a1b2c3", ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")).toEqual([
      expect.stringMatching(message),
      "Run 'ros-rollback rollout --help' for usage.",
      "",
    ]);
    for (const name of NAMES) expect(agent(name).calls).toEqual([]);
  });
});
