// Issue 10 end to end: lab robots substitute from the lab's binary cache (nginx on the host) and
// the controller pushes only what the cache lacks; one --upload-to serves a fleet.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CACHE_SECRET_KEY, CACHE_STORE, type CacheInfo, cacheDown, cacheUp } from "../lab/cache.js";
import { hostIface } from "../lab/config.js";
import { buildSystems, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { type CliRun, controller } from "../support/controller.js";

const NAMES = ["ca-1", "ca-2"] as const;
const NIX_ENV = { ...process.env, NIX_CONFIG: "build-users-group =\nsandbox = false\nsubstituters =" };
let robots: Record<string, LabRobot>;
let systems: Record<string, string>;
let cache: CacheInfo;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};
const robot = (name: string): LabRobot => {
  const r = robots[name];
  if (r === undefined) throw new Error(`no robot ${name}`);
  return r;
};
const currentSystem = async (name: string) =>
  (await labExec(name, ["readlink", "/run/current-system"], { timeoutMs: 30_000 })).stdout.trim();

/** Copies paths (and their closure) to the lab cache, signed by the cache key or not at all. */
async function upload(paths: string[], signed: boolean): Promise<void> {
  const to = signed ? `${cache.storeUri}?secret-key=${CACHE_SECRET_KEY}` : cache.storeUri;
  await promisify(execFile)(
    "nix",
    ["--extra-experimental-features", "nix-command", "copy", "--to", to, ...paths],
    {
      env: NIX_ENV,
    },
  );
}

async function closureOf(path: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)("nix-store", ["-qR", path], { env: NIX_ENV });
  return stdout.split("\n").filter((l) => l !== "");
}

interface Transferred {
  pathsMissing: number;
  pathsImported: number;
  substituted: { pathsSubstituted: number; fallback: string | null } | null;
}
const pushOf = (run: CliRun) => (run.json as { push: Transferred }).push;

describe("binary cache: robots substitute, the controller pushes the rest", () => {
  beforeAll(async () => {
    cache = await cacheUp();
    systems = await buildSystems();
    const up = await Promise.all(NAMES.map((n) => labUp(n, { cache: true })));
    robots = Object.fromEntries(up.map((r) => [r.name, r]));
    await Promise.all(NAMES.map((n) => waitForAgent(n, { timeoutMs: 60_000 })));
  }, 600_000);

  afterAll(async () => {
    await Promise.all(NAMES.map((n) => labDown(n)));
    await cacheDown();
  }, 120_000);

  it("two robots, one upload: both substitute the whole closure, nothing is pushed", async () => {
    // One inventory with both robots: a rollout.
    const targets = Object.fromEntries(
      NAMES.map((n) => {
        const inv = JSON.parse(readFileSync(robot(n).inventory, "utf8")) as {
          targets: Record<string, unknown>;
        };
        return [n, inv.targets[n]];
      }),
    );
    const fleet = join(robot("ca-1").rootDir, "..", "cache-fleet.json");
    writeFileSync(fleet, JSON.stringify({ targets }));
    const run = await controller({ ...robot("ca-1"), inventory: fleet, target: "ca-2" }, [
      "deploy",
      sys("talker"),
      "--target",
      "ca-1",
      "--upload-to",
      cache.storeUri,
      "--sign-key",
      CACHE_SECRET_KEY,
      "--transfer",
      "substitute",
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.match(/^uploading \d+ paths/gm)).toHaveLength(1);
    for (const n of NAMES) {
      expect(run.stderr).toMatch(new RegExp(`${n}: the robot substituted 3 paths`));
      expect(await currentSystem(n)).toBe(sys("talker"));
    }
    expect(run.stderr).not.toMatch(/pushed \d+ paths/);
  });

  it("half from the cache, half pushed: the report counts them apart", async () => {
    // The cache gets talker-header's units (signed); its system path only exists on the host.
    const units = (await closureOf(sys("talker-header"))).find((p) => p.includes("lab-units-"));
    if (units === undefined) throw new Error("no units path in talker-header");
    await upload([units], true);
    const r = robot("ca-1");
    const run = await controller(r, ["deploy", sys("talker-header"), "--sign-key", r.signingKey, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(pushOf(run)).toMatchObject({
      pathsMissing: 1,
      pathsImported: 1,
      substituted: { pathsSubstituted: 1, fallback: null },
    });
    expect(await currentSystem("ca-1")).toBe(sys("talker-header"));
  });

  it("a path in the cache no trusted key signed is refused (substitute: exit 1, nothing activated)", async () => {
    await upload([sys("crashing-talker")], false);
    const before = await currentSystem("ca-2");
    const run = await controller(robot("ca-2"), [
      "deploy",
      sys("crashing-talker"),
      "--transfer",
      "substitute",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/PERMISSION_DENIED: .*not signed/);
    expect(await currentSystem("ca-2")).toBe(before);
  });

  it("the cache is down: auto pushes instead and the deploy succeeds", async () => {
    await upload([sys("talker-header")], true);
    await cacheDown({ keepStore: true });
    try {
      const r = robot("ca-2");
      const run = await controller(r, ["deploy", sys("talker-header"), "--sign-key", r.signingKey, "--json"]);
      expect(run.code, run.stderr).toBe(0);
      expect(pushOf(run)).toMatchObject({ pathsImported: 2, substituted: { pathsSubstituted: 0 } });
      expect(run.stderr).toMatch(/a cache could not be asked/);
      expect(await currentSystem("ca-2")).toBe(sys("talker-header"));
    } finally {
      await cacheUp();
    }
  });

  it("the cache is stopped mid-fetch: auto pushes what is still missing and the deploy succeeds", async () => {
    await upload([sys("big-talker")], true);
    const r = robot("ca-1");
    // Slow the robot's link so the 8 MB NAR takes seconds; cut nginx once a transfer is well under way.
    const index = Number(r.address.split(".")[2]);
    const dev = hostIface(index);
    const sh = promisify(execFile);
    await sh("tc", [
      "qdisc",
      "replace",
      "dev",
      dev,
      "root",
      "tbf",
      "rate",
      "4mbit",
      "burst",
      "32kbit",
      "latency",
      "400ms",
    ]);
    try {
      const deploying = controller(
        r,
        ["deploy", sys("big-talker"), "--sign-key", r.signingKey, "--json"],
        180_000,
      );
      let cut = false;
      for (let i = 0; i < 600 && !cut; i++) {
        const { stdout } = await sh("ss", ["-tni", "( sport = :8231 )"]);
        const sent = [...stdout.matchAll(/bytes_sent:(\d+)/g)].map((m) => Number(m[1]));
        if (sent.some((b) => b > 1_000_000)) {
          await cacheDown({ keepStore: true, hard: true });
          cut = true;
        } else await new Promise((ok) => setTimeout(ok, 100));
      }
      expect(cut).toBe(true);
      const run = await deploying;
      expect(run.code, run.stderr).toBe(0);
      const push = pushOf(run);
      // The cache gone mid-NAR is the cache's outage, named as such: not an INTERNAL error.
      expect(push.substituted?.fallback).toMatch(
        /^UNAVAILABLE: a cache stopped answering while a NAR was fetched/,
      );
      expect(push.pathsImported).toBeGreaterThanOrEqual(1);
      expect(run.stderr).toMatch(/substituting failed, pushing instead/);
      expect(await currentSystem("ca-1")).toBe(sys("big-talker"));
    } finally {
      await sh("tc", ["qdisc", "del", "dev", dev, "root"]).catch(() => undefined);
      await cacheUp();
    }
  }, 240_000);

  it("a NAR the cache damaged: substitute exits 1 with DATA_LOSS naming the cache and path; auto pushes it", async () => {
    const top = sys("flag-talker");
    await upload([top], true);
    // Flip one byte of the system path's compressed NAR in the cache nginx serves.
    const narinfo = await readFile(join(CACHE_STORE, `${top.slice(11, 43)}.narinfo`), "utf8");
    const nar = join(CACHE_STORE, /^URL: (.*)$/m.exec(narinfo)?.[1] ?? "");
    const bytes = await readFile(nar);
    const i = Math.floor(bytes.length / 2);
    bytes[i] = (bytes[i] ?? 0) ^ 0x20;
    await writeFile(nar, bytes);
    const r = robot("ca-2");
    const before = await currentSystem("ca-2");
    const refused = await controller(r, ["deploy", top, "--transfer", "substitute"]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/DATA_LOSS: cache "http:\/\/10\.231\.\d+\.1:8231" served a bad NAR/);
    expect(refused.stderr).toContain(`the NAR of "${top}"`);
    expect(refused.stderr).not.toMatch(/INTERNAL/);
    expect(await currentSystem("ca-2")).toBe(before);
    const run = await controller(r, ["deploy", top, "--sign-key", r.signingKey, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(pushOf(run).substituted?.fallback).toMatch(/^DATA_LOSS: .*served a bad NAR/);
    expect(pushOf(run).pathsImported).toBeGreaterThanOrEqual(1);
    expect(await currentSystem("ca-2")).toBe(top);
  }, 240_000);
});
