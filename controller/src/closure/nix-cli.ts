import { spawn } from "node:child_process";
import type { NixCliOptions } from "@ros-rollback/nix-core";
import { UserError } from "../core/errors.js";

export { type NixCliOptions, nixBin, storeArgs } from "@ros-rollback/nix-core";

const MAX_STDOUT = 512 * 1024 * 1024;
const STDERR_TAIL = 8 * 1024;

/** Runs a nix command to completion and returns its stdout; UserError with nix's message if it fails. */
export function runNix(
  options: NixCliOptions,
  argv: readonly [string, ...string[]],
  signal: AbortSignal,
): Promise<string> {
  signal.throwIfAborted();
  const [bin, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env ?? process.env,
      signal,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_STDOUT) child.kill("SIGKILL");
      else out.push(d);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL);
    });
    child.on("error", (cause) => {
      if (signal.aborted) reject(signal.reason);
      else reject(new UserError(`cannot run ${bin}: ${cause.message}`, { cause }));
    });
    child.on("close", (code, sig) => {
      if (signal.aborted) return reject(signal.reason);
      if (code === 0 && outBytes <= MAX_STDOUT) return resolve(Buffer.concat(out).toString("utf8"));
      const why =
        outBytes > MAX_STDOUT ? "printed too much" : code === null ? `was killed by ${sig}` : `exit ${code}`;
      const said = stderr.trim().split("\n").slice(-6).join("\n");
      reject(new UserError(`${argv.join(" ")} failed (${why})${said ? `: ${said}` : ""}`));
    });
  });
}
