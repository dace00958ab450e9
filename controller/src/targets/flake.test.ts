import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { type GetStatusResponse, DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../core/errors.js";
import { main } from "../main.js";
import { connectAgent } from "../push/transport/connect-agent.js";
import { captureIo } from "../testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "../testing/fake-agent.js";
import { fakeClosure, pathInfo } from "../testing/fake-closure.js";
import { makeTestPki, type TestPki } from "../testing/pki.js";
import {
  buildToplevel,
  loadFlakeInventory,
  localFlakeDir,
  NIX_FLAGS,
  type NixRun,
  parseFlakeRef,
  toplevelAttr,
} from "./flake.js";

// Flakes cannot be built here: a fake `nix` on PATH records its argv (one JSON line per call) and
// answers `build` with a store path and `eval` with $FAKE_NIX_EVAL; FAKE_NIX_FAIL makes it fail.

let dir: string;
let bin: string;
let log: string;
let pki: TestPki;
let agent: FakeAgent;

const BUILT = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-nixos-vm-25.05";

function fakeNixEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, FAKE_NIX_LOG: log, ...extra };
}

function nixCalls(): string[][] {
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as string[]);
}

function run(env: Record<string, string>, cwd = dir): NixRun {
  return { env, cwd, signal: new AbortController().signal };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-flake-"));
  bin = join(dir, "bin");
  mkdirSync(bin);
  log = join(dir, "nix-calls.jsonl");
  writeFileSync(
    join(bin, "nix"),
    `#!/usr/bin/env node
const fs = require("node:fs");
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_NIX_LOG, JSON.stringify(argv) + "\\n");
if (process.env.FAKE_NIX_FAIL) {
  process.stderr.write("evaluating...\\nerror: attribute 'nope' missing\\n");
  process.exit(1);
}
process.stderr.write("building the system configuration...\\n");
const cmd = argv[2];
if (cmd === "build") process.stdout.write(${JSON.stringify(`${BUILT}\n`)});
else if (cmd === "eval") process.stdout.write(process.env.FAKE_NIX_EVAL ?? "{}");
else process.exit(2);
`,
  );
  chmodSync(join(bin, "nix"), 0o755);
  pki = makeTestPki(join(dir, "pki"));
  agent = await startFakeAgent(pki);
});

afterAll(async () => {
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(log, { force: true });
  agent.calls.length = 0;
});

describe("flake references", () => {
  it("FLAKE#NAME splits at the first #; paths without # are not flake references", () => {
    expect(parseFlakeRef(".#nixos-vm")).toEqual({ flake: ".", attr: "nixos-vm" });
    expect(parseFlakeRef("github:org/robots?ref=main#r1")).toEqual({
      flake: "github:org/robots?ref=main",
      attr: "r1",
    });
    expect(parseFlakeRef("/nix/store/abc-nixos-system")).toBeUndefined();
    expect(parseFlakeRef("./result")).toBeUndefined();
    expect(() => parseFlakeRef("#nixos-vm")).toThrow(UserError);
    expect(() => parseFlakeRef(".#")).toThrow(/expected FLAKE#NAME/);
  });

  it("a configuration's name means its toplevel; a dotted attribute path is taken as it is", () => {
    expect(toplevelAttr("nixos-vm")).toBe("nixosConfigurations.nixos-vm.config.system.build.toplevel");
    expect(toplevelAttr("robot 1")).toBe('nixosConfigurations."robot 1".config.system.build.toplevel');
    expect(toplevelAttr("packages.x86_64-linux.system")).toBe("packages.x86_64-linux.system");
  });

  it("TLS paths of a local flake's inventory are relative to the flake's directory", () => {
    expect(localFlakeDir(".", "/work")).toBe("/work");
    expect(localFlakeDir("../robots", "/work/a")).toBe("/work/robots");
    expect(localFlakeDir("/src/robots", "/work")).toBe("/src/robots");
    expect(localFlakeDir("path:/src/robots", "/work")).toBe("/src/robots");
    expect(localFlakeDir("git+file:///src/robots?ref=main", "/work")).toBe("/src/robots");
    expect(localFlakeDir("github:org/robots", "/work")).toBeUndefined();
  });
});

describe("nix command lines (fake nix on PATH)", () => {
  it("builds the toplevel without a result link and returns the printed store path", async () => {
    const lines: string[] = [];
    const path = await buildToplevel(parseFlakeRef(".#nixos-vm-header") ?? { flake: "", attr: "" }, {
      ...run(fakeNixEnv()),
      log: (l) => lines.push(l),
    });
    expect(path).toBe(BUILT);
    expect(nixCalls()).toEqual([
      [
        ...NIX_FLAGS,
        "build",
        "--no-link",
        "--print-out-paths",
        ".#nixosConfigurations.nixos-vm-header.config.system.build.toplevel",
      ],
    ]);
    expect(lines).toEqual(["building the system configuration..."]);
  });

  it("a failing nix is a UserError with nix's own last words", async () => {
    await expect(
      buildToplevel({ flake: ".", attr: "nope" }, run(fakeNixEnv({ FAKE_NIX_FAIL: "1" }))),
    ).rejects.toThrow(
      /nix build --no-link --print-out-paths \.#nixosConfigurations\.nope\.config\.system\.build\.toplevel failed \(exit 1\):\n {2}evaluating\.\.\.\n {2}error: attribute 'nope' missing/,
    );
  });

  it("says so when nix is not on PATH", async () => {
    await expect(buildToplevel({ flake: ".", attr: "x" }, run({ PATH: join(dir, "empty") }))).rejects.toThrow(
      /nix was not found on PATH/,
    );
  });

  it("reads rosRollback.nodes with nix eval --json as the inventory's targets", async () => {
    const nodes = {
      vm: {
        address: "192.168.122.10:50051",
        caFile: "pki/ca.pem",
        certFile: "pki/controller.pem",
        keyFile: "/abs/controller.key",
        serverName: "nixos-vm",
      },
    };
    const flakeDir = join(dir, "robots");
    const inv = await loadFlakeInventory(
      { flake: flakeDir, attr: "rosRollback.nodes" },
      run(fakeNixEnv({ FAKE_NIX_EVAL: JSON.stringify(nodes) })),
    );
    expect(nixCalls()).toEqual([[...NIX_FLAGS, "eval", "--json", `${flakeDir}#rosRollback.nodes`]]);
    expect(inv.targets.get("vm")).toEqual({
      name: "vm",
      address: "192.168.122.10:50051",
      caFile: join(flakeDir, "pki/ca.pem"),
      certFile: join(flakeDir, "pki/controller.pem"),
      keyFile: "/abs/controller.key",
      serverName: "nixos-vm",
    });
  });

  it("a malformed flake inventory is refused with the key that is wrong", async () => {
    await expect(
      loadFlakeInventory(
        { flake: ".", attr: "rosRollback.nodes" },
        run(fakeNixEnv({ FAKE_NIX_EVAL: JSON.stringify({ vm: { address: "nowhere" } }) })),
      ),
    ).rejects.toThrow(/targets\.vm\.address/);
  });
});

describe("ros-rollback deploy FLAKE#NAME", () => {
  const STATUS: GetStatusResponse = {
    agentVersion: "0.1.0",
    hostname: "nixos-vm",
    currentSystem: "/nix/store/old-system",
    currentGeneration: 7,
    profileSystem: "/nix/store/old-system",
    holds: [],
    deployment: undefined,
    lastDeployment: undefined,
  };
  const CLOSURE = [pathInfo("nixos-system-nixos-vm-25.05", 4096, [])];

  function nodes() {
    // Relative to the flake's directory (dir), as in flake.nix.
    return {
      vm: {
        address: `127.0.0.1:${agent.port}`,
        caFile: relative(dir, pki.ca),
        certFile: relative(dir, pki.clientCert),
        keyFile: relative(dir, pki.clientKey),
      },
    };
  }

  async function cli(argv: string[], env: Record<string, string>) {
    const { io, stdout, stderr } = captureIo({ cwd: dir, env });
    const closure = fakeClosure(CLOSURE.map((p) => ({ ...p, storePath: BUILT })));
    const code = await main(argv, io, { connect: connectAgent, closure }, new AbortController().signal);
    return {
      code,
      stdout: stdout(),
      stderr: stderr(),
      closure,
      json: () => JSON.parse(stdout()) as Record<string, unknown>,
    };
  }

  it("builds with nix, reads the targets from the flake, deploys the built path", async () => {
    agent.handlers = {
      getStatus: () => STATUS,
      queryMissingPaths: () => [],
      activate: () => [
        event(S.DEPLOYMENT_STATE_PENDING, { previousGeneration: 7 }),
        event(S.DEPLOYMENT_STATE_ACTIVATED, { generation: 8, previousGeneration: 7, exitCode: 0 }),
        event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 8, previousGeneration: 7, final: true }),
      ],
    };
    const r = await cli(
      ["deploy", ".#nixos-vm", "--target", "vm", "--json", "--connect-timeout", "3"],
      fakeNixEnv({ FAKE_NIX_EVAL: JSON.stringify(nodes()) }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ target: "vm", storePath: BUILT, outcome: "succeeded", generation: 8 });
    expect(nixCalls()).toEqual([
      [
        ...NIX_FLAGS,
        "build",
        "--no-link",
        "--print-out-paths",
        ".#nixosConfigurations.nixos-vm.config.system.build.toplevel",
      ],
      [...NIX_FLAGS, "eval", "--json", ".#rosRollback.nodes"],
    ]);
    expect(r.closure.computed).toEqual([BUILT]);
    expect(agent.calls.find((c) => c.method === "activate")?.request).toMatchObject({ storePath: BUILT });
    expect(r.stderr).toContain("building .#nixos-vm");
    expect(r.stderr).toContain(`built ${BUILT}`);
  });

  it("with --inventory FILE, only builds: the targets come from the file", async () => {
    agent.handlers = { getStatus: () => STATUS, queryMissingPaths: () => [], activate: () => [] };
    const file = join(dir, "inventory.json");
    writeFileSync(file, JSON.stringify({ targets: nodes() }));
    await cli(["deploy", ".#nixos-vm", "--inventory", file, "--target", "vm", "--json"], fakeNixEnv());
    expect(nixCalls().map((argv) => argv[2])).toEqual(["build"]);
  });

  it("--inventory FLAKE#ATTR works for every command", async () => {
    agent.handlers = { getStatus: () => STATUS };
    const r = await cli(
      ["status", "--inventory", ".#rosRollback.nodes", "--target", "vm", "--json"],
      fakeNixEnv({ FAKE_NIX_EVAL: JSON.stringify(nodes()) }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ target: "vm", currentGeneration: 7 });
    expect(nixCalls()).toEqual([[...NIX_FLAGS, "eval", "--json", ".#rosRollback.nodes"]]);
  });

  it("a failed build changes nothing and never reaches the robot: exit 1", async () => {
    agent.handlers = { getStatus: () => STATUS };
    const r = await cli(["deploy", ".#nope", "--target", "vm", "--json"], fakeNixEnv({ FAKE_NIX_FAIL: "1" }));
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ outcome: "unchanged", storePath: ".#nope" });
    expect(r.stderr).toMatch(/error: nix build .* failed \(exit 1\)/);
    expect(agent.calls).toEqual([]);
  });

  it("FLAKE#NAME needs both parts (usage error before anything runs)", async () => {
    const r = await cli(["deploy", "#nixos-vm", "--target", "vm"], fakeNixEnv());
    expect(r.code).toBe(1);
    expect(nixCalls()).toEqual([]);
  });
});
