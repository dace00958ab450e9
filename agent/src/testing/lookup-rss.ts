/**
 * Child process for substituters.test.ts: looks a path up in a cache with the
 * real narInfoLookup and prints its RSS before and its peak RSS during the
 * lookup (VmHWM, reset first), as JSON. Args: cache URL, warm-up path, path.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { narInfoLookup } from "../store/substituters.js";

const kib = (field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"))?.[1]);

async function main(): Promise<void> {
  const [cacheUrl = "", warm = "", path = ""] = process.argv.slice(2);
  const lookup = narInfoLookup({ storeDir: "/nix/store", timeoutMs: 60_000 });
  const signal = AbortSignal.timeout(60_000);
  await lookup(cacheUrl, warm, signal); // loads fetch and the parser before measuring
  globalThis.gc?.();
  writeFileSync("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
  const before = kib("VmRSS");
  let error = "";
  try {
    await lookup(cacheUrl, path, signal);
  } catch (e) {
    error = (e as Error).message;
  }
  process.stdout.write(JSON.stringify({ beforeKib: before, peakKib: kib("VmHWM"), error }));
}

main().catch((e: unknown) => {
  process.stderr.write(String(e));
  process.exit(1);
});
