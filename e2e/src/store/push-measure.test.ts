import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { NixCliStore, receivePush } from "@ros-rollback/agent/testing";
import { computeClosure, pushRequests, readNars } from "@ros-rollback/controller/testing";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import { Compression } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Measurements, not checks: run with ROS_ROLLBACK_MEASURE=1 (takes a
 * minute, needs ~1.5 GB in /tmp; ROS_ROLLBACK_MEASURE_MB changes the big
 * path's size). Prints memory peaks and throughput of a 200 MB path and of
 * 200 small paths, next to nix's own export | import.
 */
const run = promisify(execFile);
const enabled = process.env.ROS_ROLLBACK_MEASURE === "1";
const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.ROS_ROLLBACK_MEASURE_MB ?? 200);

interface Peaks {
  nodeRssMb: number;
  childHwmMb: Record<string, number>;
}

/** Samples this process's RSS and its children's peak RSS (VmHWM) until stopped. */
function sampler(): { stop: () => Peaks } {
  const peaks: Peaks = { nodeRssMb: 0, childHwmMb: {} };
  const tick = async () => {
    peaks.nodeRssMb = Math.max(peaks.nodeRssMb, process.memoryUsage.rss() / MB);
    for (const pid of await readdir("/proc").catch(() => [])) {
      if (!/^\d+$/.test(pid)) continue;
      const status = await readFile(join("/proc", pid, "status"), "utf8").catch(() => "");
      if (!status.includes(`\nPPid:\t${process.pid}\n`)) continue;
      const name = /^Name:\t(.*)$/m.exec(status)?.[1] ?? "?";
      const hwm = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024;
      peaks.childHwmMb[name] = Math.max(peaks.childHwmMb[name] ?? 0, Math.round(hwm));
    }
  };
  const timer = setInterval(() => void tick(), 20);
  return {
    stop: () => {
      clearInterval(timer);
      peaks.nodeRssMb = Math.round(peaks.nodeRssMb);
      return peaks;
    },
  };
}

async function timed<T>(f: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { seconds: (performance.now() - t0) / 1000, value };
}

/** `nix-store --export | nix-store --import` between two chroot stores, with the importer's peak RSS. */
async function exportImport(
  fx: NixFixture,
  paths: string[],
  target: string,
): Promise<{ seconds: number; importMaxRssMb: number }> {
  const script = `nix-store --store "$1" --export "\${@:3}" | /usr/bin/time -f "%M" -o "$2.rss" nix-store --store "$2" --import >/dev/null`;
  const t = await timed(() =>
    run("bash", ["-c", script, "bash", fx.sourceStore, target, ...paths], { env: fx.env }),
  );
  const kb = Number((await readFile(`${target}.rss`, "utf8")).trim().split("\n").at(-1));
  return { seconds: t.seconds, importMaxRssMb: Math.round(kb / 1024) };
}

describe.runIf(enabled)("push measurements", () => {
  let fx: NixFixture;
  beforeAll(async () => {
    fx = await NixFixture.create();
  });
  afterAll(async () => {
    await fx.cleanup();
  });

  it(`imports a ${SIZE_MB} MB path with small, flat memory`, async () => {
    const file = join(fx.root, "big.bin");
    await run("bash", ["-c", `head -c ${SIZE_MB * MB} /dev/urandom > "${file}"`]);
    const path = await fx.add(file);
    await fx.sign(path);
    const closure = await computeClosure(path, AbortSignal.timeout(60_000), {
      storeUri: fx.sourceStore,
      env: fx.env,
    });
    // The host is shared: alternate the variants and keep every run.
    const runs: Record<string, unknown>[] = [];
    for (let round = 1; round <= 3; round++) {
      for (const [name, compression] of [
        ["none", Compression.COMPRESSION_NONE],
        ["zstd", Compression.COMPRESSION_ZSTD],
      ] as const) {
        if (name === "zstd" && round > 1) continue;
        const store = new NixCliStore({ storeUri: fx.store(`robot-${name}-${round}`), env: fx.env });
        const rssBeforeMb = Math.round(process.memoryUsage.rss() / MB);
        const s = sampler();
        const t = await timed(() =>
          receivePush(
            pushRequests(
              closure,
              { compression, nix: { storeUri: fx.sourceStore, env: fx.env } },
              AbortSignal.timeout(300_000),
            ),
            { store, trustedKeys: parseTrustedKeys([fx.publicKey]) },
            AbortSignal.timeout(300_000),
          ),
        );
        expect(t.value.imported).toEqual([path]);
        runs.push({ name, seconds: +t.seconds.toFixed(2), rssBeforeMb, ...s.stop() });
      }
      const pipe = await exportImport(fx, [path], fx.store(`robot-pipe-${round}`));
      runs.push({
        name: "export|import",
        seconds: +pipe.seconds.toFixed(2),
        importMaxRssMb: pipe.importMaxRssMb,
      });
    }
    const results = { narMb: Math.round((closure[0]?.narSize ?? 0) / MB), runs };
    console.log(`one big path (${results.narMb} MB NAR):\n${runs.map((r) => JSON.stringify(r)).join("\n")}`);
  }, 600_000);

  it("pushes 200 small paths; compares NAR readers", async () => {
    const top = await fx.build(
      `builtins.toFile "top" (builtins.concatStringsSep "\\n" (builtins.genList (i: builtins.toFile "small-\${toString i}" "content \${toString i}\\n") 200))`,
    );
    await fx.sign(top);
    const nix = { storeUri: fx.sourceStore, env: fx.env };
    const closure = await computeClosure(top, AbortSignal.timeout(60_000), nix);
    const paths = closure.map((i) => i.storePath);
    for (let round = 1; round <= 3; round++) {
      const serve = await timed(async () => {
        let n = 0;
        for await (const p of readNars(closure, nix, AbortSignal.timeout(60_000))) n += p.data.length;
        return n;
      });
      const exportAll = await timed(() =>
        run("nix-store", ["--store", fx.sourceStore, "--export", ...paths], {
          env: fx.env,
          encoding: "buffer",
        }),
      );
      const dumpEach = await timed(async () => {
        for (const p of paths)
          await run("nix-store", ["--dump", join(fx.sourceStore, p)], { env: fx.env, encoding: "buffer" });
      });
      const store = new NixCliStore({ storeUri: fx.store(`robot-small-${round}`), env: fx.env });
      const push = await timed(() =>
        receivePush(
          pushRequests(
            closure,
            { compression: Compression.COMPRESSION_NONE, nix },
            AbortSignal.timeout(60_000),
          ),
          { store, trustedKeys: parseTrustedKeys([fx.publicKey]) },
          AbortSignal.timeout(60_000),
        ),
      );
      expect(push.value.imported).toHaveLength(201);
      const pipe = await exportImport(fx, paths, fx.store(`robot-small-pipe-${round}`));
      console.log(
        `201 small paths: ${JSON.stringify({
          readers: {
            serveOneProcess: serve.seconds.toFixed(3),
            exportOneProcess: exportAll.seconds.toFixed(3),
            dumpPerPath: dumpEach.seconds.toFixed(3),
          },
          pushNone: push.seconds.toFixed(3),
          exportImportPipe: pipe.seconds.toFixed(3),
        })}`,
      );
    }
  }, 600_000);
});
