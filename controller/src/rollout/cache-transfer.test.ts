import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import {
  type GetStatusResponse,
  type PushPathsRequest,
  DeploymentState as S,
  type SubstituteProgress,
} from "@ros-rollback/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { main } from "../main.js";
import { connectAgent } from "../push/transport/connect-agent.js";
import { captureIo } from "../testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "../testing/fake-agent.js";
import { type FakeClosure, fakeClosure, pathInfo } from "../testing/fake-closure.js";
import { makeTestPki } from "../testing/pki.js";

// Real grpc-js over mutual TLS; the agent's answers and the local store are fakes.
let dir: string;
let agent: FakeAgent;
let inventory: string;

const GLIBC = pathInfo("glibc", 200 * 1024);
const NODES = pathInfo("ros-nodes", 100 * 1024, [GLIBC.storePath]);
const CLOSURE = [GLIBC, NODES, pathInfo("nixos-system-robot1", 3 * 1024, [GLIBC.storePath, NODES.storePath])];
const [glibc, nodes, root] = CLOSURE.map((p) => p.storePath) as [string, string, string];
const STATUS: GetStatusResponse = {
  agentVersion: "0.1.0",
  hostname: "robot1",
  currentSystem: "/nix/store/old-system",
  currentGeneration: 41,
  profileSystem: "/nix/store/old-system",
  deployment: undefined,
  lastDeployment: undefined,
  holds: [],
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-cache-"));
  const pki = makeTestPki(dir);
  agent = await startFakeAgent(pki);
  inventory = join(dir, "fleet.json");
  const robot = {
    address: `127.0.0.1:${agent.port}`,
    serverName: "localhost",
    caFile: pki.ca,
    certFile: pki.clientCert,
    keyFile: pki.clientKey,
  };
  writeFileSync(inventory, JSON.stringify({ targets: { robot1: robot } }));
});

afterAll(async () => {
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The robot lacks everything; what it has substituted is no longer missing. */
let valid: Set<string>;
beforeEach(() => {
  valid = new Set();
  agent.calls.length = 0;
  agent.handlers = {
    getStatus: () => STATUS,
    queryMissingPaths: (paths) => paths.filter((p) => !valid.has(p)),
    pushPaths: (received: PushPathsRequest[]) => {
      const paths = received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : []));
      for (const p of paths) valid.add(p);
      return { imported: paths, skipped: [], narBytes: 0 };
    },
    activate: () => [
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, previousGeneration: 41, final: true }),
    ],
  };
});

const sizes = new Map(CLOSURE.map((p) => [p.storePath, p.narSize]));
const cachedBy = (paths: string[]) => () => ({
  paths: paths.map((storePath) => ({
    storePath,
    cacheUrl: "http://cache",
    narSize: sizes.get(storePath) ?? 0,
    fileSize: 0,
  })),
  unreachable: [],
});
/** A Substitute stream that makes `paths` valid and reports progress. */
const substitutes = (requested: string[]): SubstituteProgress[] => {
  const total = requested.reduce((s, p) => s + (sizes.get(p) ?? 0), 0);
  const base = { pathsTotal: requested.length, narBytesTotal: total, pathsAlreadyValid: 0 };
  for (const p of requested) valid.add(p);
  return [
    { ...base, pathsDone: 0, narBytesDone: 0, done: false },
    { ...base, pathsDone: requested.length, narBytesDone: total, done: true },
  ];
};

async function deploy(extra: string[], closure: FakeClosure = fakeClosure(CLOSURE)) {
  const { io, stdout, stderr } = captureIo({ cwd: dir });
  const code = await main(
    [
      "deploy",
      root,
      "--inventory",
      inventory,
      "--target",
      "robot1",
      "--connect-timeout",
      "3",
      "--json",
      ...extra,
    ],
    io,
    { connect: connectAgent, closure },
    new AbortController().signal,
  );
  const out = stdout();
  return {
    code,
    stderr: stderr(),
    doc: out === "" ? {} : (JSON.parse(out) as Record<string, unknown>),
    closure,
  };
}

const pushedPaths = () =>
  agent.calls
    .filter((c) => c.method === "pushPaths")
    .flatMap((c) =>
      (c.request as PushPathsRequest[]).flatMap((m) =>
        m.item?.$case === "path" ? [m.item.value.storePath] : [],
      ),
    );

describe("deploy --transfer", () => {
  it("auto: the robot substitutes everything its caches hold; nothing is pushed", async () => {
    agent.handlers.querySubstitutable = cachedBy([glibc, nodes, root]);
    agent.handlers.substitute = substitutes;
    const r = await deploy([]);
    expect(r.code).toBe(0);
    expect(pushedPaths()).toEqual([]);
    expect(r.doc.push).toMatchObject({
      pathsMissing: 0,
      pathsImported: 0,
      substituted: {
        pathsSubstitutable: 3,
        pathsSubstituted: 3,
        narBytesSubstituted: 303 * 1024,
        fallback: null,
      },
    });
    expect(agent.calls.find((c) => c.method === "substitute")?.request).toEqual({
      storePaths: [glibc, nodes, root],
    });
  });

  it("auto: half from the cache, the rest pushed; the report counts both apart", async () => {
    agent.handlers.querySubstitutable = cachedBy([glibc]);
    agent.handlers.substitute = substitutes;
    const r = await deploy([]);
    expect(r.code).toBe(0);
    expect(pushedPaths()).toEqual([nodes, root]);
    expect(r.doc.push).toMatchObject({
      pathsMissing: 2,
      pathsImported: 2,
      substituted: { pathsSubstituted: 1, narBytesSubstituted: 200 * 1024 },
    });
  });

  it("auto: a substitution that fails (untrusted, cache down mid-way) falls back to pushing what is still missing", async () => {
    agent.handlers.querySubstitutable = cachedBy([glibc, nodes, root]);
    agent.handlers.substitute = (paths) => {
      valid.add(glibc); // fetched before the cache went away
      return [
        {
          pathsDone: 1,
          pathsTotal: paths.length,
          narBytesDone: 1,
          narBytesTotal: 3,
          pathsAlreadyValid: 0,
          done: false,
        },
        {
          error: {
            code: status.INTERNAL,
            details: "substituting failed: unable to download",
            agentCode: "EXTERNAL_COMMAND_FAILED",
          },
        },
      ];
    };
    const r = await deploy([]);
    expect(r.code).toBe(0);
    expect(pushedPaths()).toEqual([nodes, root]);
    expect((r.doc.push as { substituted: { fallback: string } }).substituted.fallback).toMatch(
      /unable to download/,
    );
    expect(r.stderr).toMatch(/substituting failed, pushing instead/);
  });

  // What the agent answers when a cache hands it a bad NAR, a missing one, or goes away mid-NAR.
  it.each([
    [
      status.DATA_LOSS,
      "CACHE_BAD_NAR",
      'cache "http://cache" served a bad NAR: its compressed data is corrupt',
    ],
    [status.DATA_LOSS, "CACHE_BAD_NAR", "the cache has the narinfo but not the NAR"],
    [status.UNAVAILABLE, "CACHE_UNAVAILABLE", "a cache stopped answering while a NAR was fetched"],
    [status.PERMISSION_DENIED, "UNTRUSTED", "Nix refused a signature"],
  ])(
    "auto: a substitution refused with status %i (%s) falls back to pushing",
    async (code, agentCode, details) => {
      agent.handlers.querySubstitutable = cachedBy([glibc, nodes, root]);
      agent.handlers.substitute = () => [{ error: { code, details, agentCode } }];
      const r = await deploy([]);
      expect(r.code, r.stderr).toBe(0);
      expect(pushedPaths()).toEqual([glibc, nodes, root]);
      expect((r.doc.push as { substituted: { fallback: string } }).substituted.fallback).toContain(details);
      expect(agent.calls.map((c) => c.method)).toContain("activate");
    },
  );

  it("substitute: a refused path is exit 1, nothing pushed, nothing activated", async () => {
    agent.handlers.querySubstitutable = cachedBy([glibc, nodes, root]);
    agent.handlers.substitute = () => [
      { error: { code: status.PERMISSION_DENIED, details: "path x is not signed", agentCode: "UNTRUSTED" } },
    ];
    const r = await deploy(["--transfer", "substitute"]);
    expect(r.code).toBe(1);
    expect(pushedPaths()).toEqual([]);
    expect(agent.calls.map((c) => c.method)).not.toContain("activate");
    expect(r.stderr).toMatch(/PERMISSION_DENIED: path x is not signed/);
  });

  it("substitute: paths the caches lack are exit 1 before anything is fetched", async () => {
    agent.handlers.querySubstitutable = cachedBy([glibc]);
    const r = await deploy(["--transfer", "substitute"]);
    expect(r.code).toBe(1);
    expect(agent.calls.map((c) => c.method)).not.toContain("substitute");
    expect(r.stderr).toMatch(/2 of 3 missing paths are in none of the robot's caches/);
  });

  it("auto against an agent without the RPCs (older): pushes as before", async () => {
    const r = await deploy([]);
    expect(r.code).toBe(0);
    expect(pushedPaths()).toEqual([glibc, nodes, root]);
    expect(r.stderr).not.toMatch(/cannot ask/);
  });

  it("--upload-to uploads the closure once, signed with --sign-key, then the robot substitutes it", async () => {
    agent.handlers.querySubstitutable = cachedBy([glibc, nodes, root]);
    agent.handlers.substitute = substitutes;
    const r = await deploy(["--upload-to", "file:///srv/cache", "--sign-key", "key.sec"]);
    expect(r.code).toBe(0);
    expect(r.closure.uploaded).toEqual([
      { storePath: root, storeUri: "file:///srv/cache", secretKeyFile: join(dir, "key.sec") },
    ]);
    expect(pushedPaths()).toEqual([]);
  });

  it("--upload-to asks the robot again after the upload: a path its store lost meanwhile is fetched", async () => {
    for (const p of CLOSURE) valid.add(p.storePath); // the early query (beside GetStatus): nothing missing
    const fake = fakeClosure(CLOSURE);
    const closure: FakeClosure = {
      ...fake,
      uploadClosure: async (...args) => {
        valid.delete(glibc); // a garbage collection on the robot during the upload
        return fake.uploadClosure(...args);
      },
    };
    agent.handlers.querySubstitutable = cachedBy([glibc]);
    agent.handlers.substitute = substitutes;
    const r = await deploy(["--upload-to", "file:///srv/cache"], closure);
    expect(r.code).toBe(0);
    expect(agent.calls.filter((c) => c.method === "substitute").map((c) => c.request)).toEqual([
      { storePaths: [glibc] },
    ]);
    expect(valid.has(glibc)).toBe(true);
  });

  it("refuses --upload-to with --transfer push, and an unknown mode", async () => {
    expect((await deploy(["--upload-to", "file:///x", "--transfer", "push"])).code).toBe(1);
    expect((await deploy(["--transfer", "pull"])).code).toBe(1);
    expect(agent.calls).toEqual([]);
  });
});
