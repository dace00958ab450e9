// Issue 10 bench: run as root on the lab host: node --import tsx bench/cache.ts [N]
// 1. The controller's egress for N robots (default 5): plain pushes vs one --upload-to.
//    Egress = bytes the controller sends: pushed NarChunk bytes (the reports' wireBytes) plus
//    the bytes written to the cache by the upload (its .nar/.narinfo files). N fresh robots get
//    big-talker by one --upload-to rollout; the plain-push figure is N x one fresh robot's push
//    (fresh robots lack the same paths, so each push sends the same bytes).
// 2. Deploy time of big-talker (8 MB payload) on one robot whose link is shaped to 20 Mbit/s
//    (tc tbf on the veth's host end): from the cache vs pushed.
// Prints one JSON line. Robots cb-1..cb-N are booted with --cache and taken down at the end.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CACHE_SECRET_KEY, CACHE_STORE, cacheDown, cacheUp } from "../integration-tests/lab/cache.js";
import { hostIface } from "../integration-tests/lab/config.js";
import { buildSystems, type LabRobot, labDown, labUp, waitForAgent } from "../integration-tests/lab/index.js";
import { controller } from "../integration-tests/support/controller.js";

const sh = promisify(execFile);
const N = Number(process.argv[2] ?? 5);
const names = Array.from({ length: N }, (_, i) => `cb-${i + 1}`);

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

/** Every `wireBytes` in a report (one robot's, or a rollout's per-robot ones). */
function wireBytes(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + wireBytes(x), 0);
  if (typeof v !== "object" || v === null) return 0;
  return Object.entries(v).reduce(
    (s, [k, x]) => s + (k === "wireBytes" && typeof x === "number" ? x : wireBytes(x)),
    0,
  );
}

async function main(): Promise<void> {
  await cacheDown();
  const cache = await cacheUp();
  const systems = await buildSystems();
  const sys = (n: string) => systems[n] ?? "";
  const robots: LabRobot[] = [];
  try {
    for (const n of names) robots.push(await labUp(n, { cache: true }));
    await Promise.all(names.map((n) => waitForAgent(n, { timeoutMs: 120_000 })));
    const fleet = join("/tmp", `cache-bench-fleet-${process.pid}.json`);
    const targets: Record<string, unknown> = {};
    for (const r of robots) {
      targets[r.name] = (
        JSON.parse(readFileSync(r.inventory, "utf8")) as { targets: Record<string, unknown> }
      ).targets[r.name];
    }
    writeFileSync(fleet, JSON.stringify({ targets }));
    // One upload, N robots substitute (fresh robots: they lack the whole closure).
    const before = dirBytes(CACHE_STORE);
    const first = robots[0] as LabRobot;
    const up = await controller(
      { ...first, inventory: fleet },
      [
        "deploy",
        sys("big-talker"),
        ...names.slice(1).flatMap((n) => ["--target", n]),
        "--upload-to",
        cache.storeUri,
        "--sign-key",
        CACHE_SECRET_KEY,
        "--json",
      ],
      300_000,
    );
    if (up.code !== 0) throw new Error(`upload rollout: ${up.stderr}`);
    const uploaded = dirBytes(CACHE_STORE) - before;

    // Deploy time at 20 Mbit/s on a fresh robot: cache vs push.
    const timing: Record<string, number> = {};
    let onePush = 0;
    for (const mode of ["substitute", "push"] as const) {
      const name = `cb-t${mode === "push" ? "p" : "s"}`;
      const r = await labUp(name, { cache: true });
      robots.push(r);
      await waitForAgent(name, { timeoutMs: 120_000 });
      const dev = hostIface(Number(r.address.split(".")[2]));
      await sh("tc", [
        "qdisc",
        "replace",
        "dev",
        dev,
        "root",
        "tbf",
        "rate",
        "20mbit",
        "burst",
        "64kbit",
        "latency",
        "400ms",
      ]);
      const started = Date.now();
      const run = await controller(
        r,
        [
          "deploy",
          sys("big-talker"),
          "--transfer",
          mode,
          // Only a push signs and compresses (substitute refuses both).
          ...(mode === "push" ? ["--sign-key", r.signingKey, "--compress", "none"] : []),
          "--json",
        ],
        300_000,
      );
      timing[mode] = (Date.now() - started) / 1000;
      if (run.code !== 0) throw new Error(`${mode} on ${name}: ${run.stderr}`);
      if (mode === "push") onePush = wireBytes(run.json);
    }
    process.stdout.write(
      `${JSON.stringify({ robots: N, egressPlainPushBytes: N * onePush, onePushBytes: onePush, egressUploadBytes: uploaded + wireBytes(up.json), deploySecondsAt20Mbit: timing })}\n`,
    );
  } finally {
    for (const r of robots) await labDown(r.name).catch(() => undefined);
    await cacheDown();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
