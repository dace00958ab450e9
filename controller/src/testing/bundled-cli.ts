// The `ros-rollback` command as shipped (bundle.mjs's output), built into a test's own directory
// and run as a process: for what only the bundle does (its launcher, code cache, exit).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export interface BundledRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

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
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(o.nodeArgs ?? []), join(dir, "out", "cli.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: o.env,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), o.killAfterMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
