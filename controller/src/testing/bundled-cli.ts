// The `ros-rollback` command as shipped (bundle.mjs's output), built into a test's own directory
// and run as a process: for what only the bundle does (its launcher, code cache, exit).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliEnd, spawnCli } from "./cli-process.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export type BundledRun = CliEnd;

/** A new temporary directory (under `prefix`) holding the bundle in `out/`; returns the directory. */
export function buildBundle(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  execFileSync(process.execPath, ["controller/bundle.mjs", join(dir, "out")], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return dir;
}

export interface BundledRunOptions {
  /** The whole environment of the process. */
  readonly env: NodeJS.ProcessEnv;
  readonly nodeArgs?: readonly string[];
  /** Killed (SIGKILL) if still running after this. */
  readonly killAfterMs: number;
}

/** Runs `dir`'s bundled CLI with `args` to its end. */
export function runBundled(dir: string, args: readonly string[], o: BundledRunOptions): Promise<BundledRun> {
  return spawnCli(join(dir, "out", "cli.js"), args, o).done;
}
