import { spawn } from "node:child_process";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { createGunzip } from "node:zlib";
import { Compression } from "@ros-rollback/proto";
import { AgentError } from "../errors.js";

export interface DecompressOptions {
  /** The zstd binary; default: found on PATH. */
  readonly zstdBin?: string;
}

/** Compressed bytes go into `input`; `output` yields the NAR bytes and throws if the data is corrupt. */
export interface Decompressor {
  readonly input: Writable;
  readonly output: AsyncIterable<Buffer>;
  destroy(): void;
}

const CHUNK = 128 * 1024;
/**
 * zstd's frame header may ask for a window of up to 128 MiB by default; the
 * controller compresses with a small window, so a bigger one is refused
 * rather than allocated.
 */
const ZSTD_MEMORY_LIMIT = "--memory=32MB";

/** gzip or zstd (an uncompressed push goes to nix without one: receive-push.ts). */
export async function openDecompressor(
  compression: Compression,
  options: DecompressOptions,
  signal: AbortSignal,
): Promise<Decompressor> {
  switch (compression) {
    case Compression.COMPRESSION_GZIP: {
      const gunzip = createGunzip({ chunkSize: CHUNK });
      return { input: gunzip, output: mapErrors(gunzip, "gzip"), destroy: () => gunzip.destroy() };
    }
    case Compression.COMPRESSION_ZSTD:
      // auto's uncompressed rest comes as raw frames (proto's zstd-raw.ts): zstd -d copies them.
      return openZstd(options.zstdBin ?? "zstd", signal);
    default:
      throw new AgentError("INVALID_ARGUMENT", `unknown compression ${compression}`);
  }
}

async function* mapErrors(stream: Readable, what: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (cause) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      `cannot decompress the push (${what}): ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

async function openZstd(bin: string, signal: AbortSignal): Promise<Decompressor> {
  const child = spawn(bin, ["-d", "-c", "-q", ZSTD_MEMORY_LIMIT], {
    stdio: ["pipe", "pipe", "pipe"],
    signal,
  });
  try {
    await once(child, "spawn");
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "ENOENT";
    throw new AgentError(
      missing ? "FAILED_PRECONDITION" : "EXTERNAL_COMMAND_FAILED",
      missing
        ? `COMPRESSION_ZSTD needs the zstd program on the robot, and ${bin} was not found; push with gzip or none`
        : `cannot run ${bin}: ${(cause as Error).message}`,
      { cause },
    );
  }
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  child.stdin.on("error", () => {
    // zstd stops reading when the data is corrupt; its exit status says so.
  });
  child.on("error", () => {
    // Abort kills it; the push reports ABORTED.
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  async function* output(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      const code = await exited;
      if (code !== 0) {
        throw new AgentError(
          "INVALID_ARGUMENT",
          `cannot decompress the push (zstd exit ${code}): ${stderr.trim()}`,
        );
      }
    } finally {
      child.kill("SIGKILL");
    }
  }
  return { input: child.stdin, output: output(), destroy: () => child.kill("SIGKILL") };
}
