// The CLI as built (bundle.mjs: cli.js runs cli.cjs with V8's code cache) answers the same with
// no cache, with one it writes, with one it reads, and with a damaged, foreign or unwritable one.
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BundledRun, buildBundle, runBundled } from "../testing/bundled-cli.js";
import { startFakeAgent } from "../testing/fake-agent.js";
import { makeTestPki } from "../testing/pki.js";
import { IDLE_STATUS } from "../testing/robot-fixtures.js";
import { cacheFile, compile, readCache, writeCache } from "./code-cache.js";

let dir: string;

beforeAll(() => {
  dir = buildBundle("code-cache-");
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the bundled CLI with `env` over a clean environment (no inventory, no HOME). */
function cli(args: readonly string[], env: Record<string, string>): Promise<BundledRun> {
  return runBundled(dir, args, { env: { PATH: process.env.PATH ?? "", ...env }, killAfterMs: 20_000 });
}

const HELP = ["deploy", "--help"];
const OFF = { ROS_ROLLBACK_CODE_CACHE: "off" };

/** A fresh cache directory, and the files in it after runs. */
function cacheHome(): { readonly env: Record<string, string>; readonly files: () => string[] } {
  const home = mkdtempSync(join(dir, "xdg-"));
  const cacheDir = join(home, "ros-rollback", "code-cache");
  const files = () => {
    try {
      return readdirSync(cacheDir).map((f) => join(cacheDir, f));
    } catch {
      return [];
    }
  };
  return { env: { XDG_CACHE_HOME: home }, files };
}

describe("the bundled CLI with V8's code cache", () => {
  it.each([
    [HELP, 0],
    [["deploy"], 1],
    [["status", "--inventory", "/nonexistent/inventory.json", "--target", "x"], 1],
  ])("%j: the same output and exit code without, writing and reading the cache", async (args, code) => {
    const plain = await cli(args, OFF);
    expect(plain.code).toBe(code);
    const home = cacheHome();
    const writing = await cli(args, home.env);
    const reading = await cli(args, home.env);
    for (const run of [writing, reading]) expect(run).toEqual(plain);
    // Written only after a success: a failed command compiled a fraction of itself.
    expect(home.files()).toHaveLength(code === 0 ? 1 : 0);
  });

  it("a damaged cache is not handed to V8 (it would crash) and is replaced", async () => {
    const plain = await cli(HELP, OFF);
    const home = cacheHome();
    await cli(HELP, home.env);
    const [file] = home.files();
    if (file === undefined) throw new Error("no cache written");
    const damaged = readFileSync(file);
    for (let i = 1000; i < damaged.length; i += 997) damaged.writeUInt8((damaged[i] ?? 0) ^ 0x5a, i);
    writeFileSync(file, damaged);
    expect(await cli(HELP, home.env)).toEqual(plain);
    expect(readFileSync(file).equals(damaged)).toBe(false);
    expect(readCache(file)).toBeDefined();
  });

  it.each([
    ["owned by another user", (f: string) => chownSync(f, 4242, 4242)],
    ["writable by others", (f: string) => chmodSync(f, 0o666)],
  ])("a cache %s is never handed to V8", async (_what, change) => {
    const plain = await cli(HELP, OFF);
    const home = cacheHome();
    await cli(HELP, home.env);
    const [file] = home.files();
    if (file === undefined) throw new Error("no cache written");
    expect(readCache(file)).toBeDefined();
    change(file);
    expect(readCache(file)).toBeUndefined();
    expect(await cli(HELP, home.env)).toEqual(plain);
  });

  it("a cache V8 rejects (another script's) is replaced by one it takes", async () => {
    const plain = await cli(HELP, OFF);
    const home = cacheHome();
    await cli(HELP, home.env);
    const [file] = home.files();
    if (file === undefined) throw new Error("no cache written");
    const other = compile("1 + 1", "other.js", undefined).script.createCachedData();
    writeCache({ path: file, prefix: "" }, other, process.pid);
    expect(statSync(file).size).toBeLessThan(1000);
    expect(await cli(HELP, home.env)).toEqual(plain);
    const cached = readCache(file);
    expect(cached?.length).toBeGreaterThan(other.length);
    const source = readFileSync(join(dir, "out", "cli.cjs"), "utf8");
    expect(compile(source, "cli.cjs", cached).stale).toBe(false);
  });

  it("runs that write the same cache at once leave one whole cache", async () => {
    const plain = await cli(HELP, OFF);
    const home = cacheHome();
    const runs = await Promise.all(Array.from({ length: 4 }, () => cli(HELP, home.env)));
    for (const run of runs) expect(run).toEqual(plain);
    const [file, ...more] = home.files();
    expect(more).toEqual([]); // no temporary file left
    const source = readFileSync(join(dir, "out", "cli.cjs"), "utf8");
    expect(compile(source, "cli.cjs", readCache(file ?? "")).stale).toBe(false);
  });

  it("an unwritable cache directory changes nothing", async () => {
    const plain = await cli(HELP, OFF);
    const notADir = join(mkdtempSync(join(dir, "file-")), "xdg");
    writeFileSync(notADir, "");
    expect(await cli(HELP, { XDG_CACHE_HOME: notADir })).toEqual(plain);
    expect(readdirSync(join(notADir, ".."))).toEqual(["xdg"]); // no temporary file left
  });

  it("keeps one bundle's caches: another bundle's or Node's are removed when one is written", async () => {
    const home = cacheHome();
    const base = join(home.env.XDG_CACHE_HOME ?? "", "ros-rollback", "code-cache");
    const old = cacheFile(home.env, "oldbundle", "v20.0.0-x64", HELP);
    if (old === undefined) throw new Error("no cache file");
    writeCache(old, Buffer.from("old"), process.pid);
    expect(home.files()).toEqual([old.path]);
    await cli(HELP, home.env);
    const [file, ...more] = home.files();
    expect(more).toEqual([]);
    expect(file?.startsWith(base)).toBe(true);
    expect(file).not.toBe(old.path);
  });
});

// The bundle leaves grpc-js's server side and the service-config balancers out (grpc-client-only.mjs):
// its client connects with mutual TLS and a server name, calls, and reads the answer all the same.
describe("the bundled CLI against an agent", () => {
  it("status over mutual TLS, with and without the code cache", async () => {
    const pki = makeTestPki(join(dir, "pki"));
    const agent = await startFakeAgent(pki, { getStatus: () => IDLE_STATUS });
    try {
      const inventory = join(dir, "inventory.json");
      const target = {
        address: `127.0.0.1:${agent.port}`,
        serverName: "robot1.test",
        caFile: pki.ca,
        certFile: pki.clientCert,
        keyFile: pki.clientKey,
      };
      writeFileSync(inventory, JSON.stringify({ targets: { robot1: target } }));
      const args = ["status", "--inventory", inventory, "--target", "robot1", "--json"];
      const plain = await cli(args, OFF);
      expect(plain).toMatchObject({ code: 0, stderr: "" });
      expect(JSON.parse(plain.stdout)).toMatchObject({
        target: "robot1",
        hostname: "robot1",
        currentGeneration: 41,
      });
      const home = cacheHome();
      expect(await cli(args, home.env)).toEqual(plain);
      expect(home.files()).toHaveLength(1);
      expect(await cli(args, home.env)).toEqual(plain);
      expect(agent.calls.filter((c) => c.method === "getStatus")).toHaveLength(3);
    } finally {
      await agent.close();
    }
  });
});

describe("cacheFile", () => {
  const env = { HOME: "/home/op" };
  const at = (args: readonly string[], e: NodeJS.ProcessEnv = env) =>
    cacheFile(e, "b1", "v20-x64", args)?.path;

  it("one file per command, one for every --help, under XDG_CACHE_HOME or ~/.cache", () => {
    expect(at(["deploy", "/nix/store/x"])).toBe(
      "/home/op/.cache/ros-rollback/code-cache/b1-v20-x64-deploy.bin",
    );
    expect(at(["status"], { ...env, XDG_CACHE_HOME: "/c" })).toBe(
      "/c/ros-rollback/code-cache/b1-v20-x64-status.bin",
    );
    expect(at(["deploy", "-h"])).toBe(at(["--help"]));
    expect(at(["../../etc/x"])).toBe("/home/op/.cache/ros-rollback/code-cache/b1-v20-x64-other.bin");
    expect(at([])).toBe("/home/op/.cache/ros-rollback/code-cache/b1-v20-x64-other.bin");
  });

  it("none when turned off or without an absolute HOME", () => {
    expect(at(["status"], { ...env, ROS_ROLLBACK_CODE_CACHE: "off" })).toBeUndefined();
    expect(at(["status"], {})).toBeUndefined();
    expect(at(["status"], { HOME: "relative", XDG_CACHE_HOME: "also" })).toBeUndefined();
  });
});
