import { spawn } from "node:child_process";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { constants, createGzip } from "node:zlib";
import { Compression } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";

export interface Compressor {
  readonly input: Writable;
  readonly output: AsyncIterable<Buffer>;
  destroy(): void;
}

const CHUNK = 128 * 1024;

/**
 * zstd -3 runs as a subprocess (fast, and off the event loop); gzip uses
 * zlib at level 3, which keeps up with a gigabit link on one core.
 */
export async function openCompressor(
  compression: Compression.COMPRESSION_GZIP | Compression.COMPRESSION_ZSTD,
  zstdBin: string,
  signal: AbortSignal,
): Promise<Compressor> {
  if (compression === Compression.COMPRESSION_GZIP) {
    const gzip = createGzip({ level: 3, chunkSize: CHUNK, strategy: constants.Z_DEFAULT_STRATEGY });
    return { input: gzip, output: gzip, destroy: () => gzip.destroy() };
  }
  // --single-thread: -T1 still hands whole jobs (several MiB) to a worker, so output lagged input by
  // megabytes (progress ran ahead of the wire, and memory). Level 3's window (a few MiB) is far
  // under the agent's 32 MiB limit.
  const child = spawn(zstdBin, ["-3", "--single-thread", "-q", "-c"], {
    stdio: ["pipe", "pipe", "pipe"],
    signal,
  });
  try {
    await once(child, "spawn");
  } catch (cause) {
    if (signal.aborted) throw signal.reason;
    throw new UserError(
      `cannot run ${zstdBin} for zstd compression (${(cause as Error).message}); install zstd or push with gzip`,
      { cause },
    );
  }
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  child.stdin.on("error", () => undefined); // exit status tells
  child.on("error", () => undefined); // abort
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  async function* output(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      const code = await exited;
      if (code !== 0) throw new UserError(`${zstdBin} failed (exit ${code}): ${stderr.trim()}`);
    } finally {
      child.kill("SIGKILL");
    }
  }
  return { input: child.stdin, output: output(), destroy: () => child.kill("SIGKILL") };
}
