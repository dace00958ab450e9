import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  ByteReader,
  type NixCliOptions,
  nixBin,
  SERVE_CLIENT_VERSION,
  SERVE_MAGIC_1,
  SERVE_MAGIC_2,
  ServeCommand,
  storeArgs,
  str,
  u64,
} from "@ros-rollback/nix-core";
import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";

/** Commands written ahead of the path being read, so nix never waits for us between paths. */
const LOOKAHEAD = 32;

/**
 * The NAR bytes of `infos`, in order, exactly `narSize` of each, in pieces
 * of at most `maxPiece` (each within one path), from ONE `nix-store --serve`
 * process (cmdDumpStorePath per path, pipelined). `nix-store --export` is
 * also one process but reorders paths and puts each path's name after its
 * NAR; `nix-store --dump` costs a process per path (≈33 ms each here).
 * Unchecked: the caller hashes them.
 */
export async function* serveNars(
  infos: readonly PathInfo[],
  options: NixCliOptions,
  maxPiece: number,
  signal: AbortSignal,
): AsyncGenerator<{ index: number; data: Buffer }> {
  signal.throwIfAborted();
  if (infos.length === 0) return;
  const bin = nixBin(options, "nix-store");
  const child = spawn(bin, [...storeArgs(options), "--serve"], {
    stdio: ["pipe", "pipe", "pipe"],
    env: options.env ?? process.env,
    signal,
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-8192);
  });
  child.stdin.on("error", () => undefined); // its exit status tells
  child.on("error", () => undefined); // abort: reported as signal.reason below
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const fail = async (doing: string, cause?: unknown): Promise<never> => {
    if (signal.aborted) throw signal.reason;
    child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => (timer = setTimeout(r, 2000, "running"))),
    ]);
    clearTimeout(timer);
    const said = stderr.trim().split("\n").slice(-4).join("\n") || (cause as Error | undefined)?.message;
    throw new UserError(`${bin} --serve failed ${doing} (exit ${code})${said ? `: ${said}` : ""}`, { cause });
  };
  try {
    try {
      await once(child, "spawn");
    } catch (cause) {
      if (signal.aborted) throw signal.reason;
      throw new UserError(`cannot run ${bin}: ${(cause as Error).message}`, { cause });
    }
    const reader = new ByteReader(child.stdout);
    child.stdin.write(Buffer.concat([u64(SERVE_MAGIC_1), u64(SERVE_CLIENT_VERSION)]));
    let sent = 0;
    const sendAhead = (upTo: number) => {
      const cmds: Buffer[] = [];
      for (; sent < Math.min(upTo, infos.length); sent++) {
        cmds.push(u64(ServeCommand.DumpStorePath), str(infos[sent]?.storePath ?? ""));
      }
      // Tiny commands; node buffers them if the pipe is momentarily full.
      if (cmds.length > 0) child.stdin.write(Buffer.concat(cmds));
    };
    sendAhead(LOOKAHEAD);
    try {
      if ((await reader.u64("handshake")) !== SERVE_MAGIC_2) throw new Error("protocol mismatch");
      await reader.u64("handshake");
    } catch (e) {
      return await fail("to start", e);
    }
    for (let index = 0; index < infos.length; index++) {
      const info = infos[index] as PathInfo;
      sendAhead(index + 1 + LOOKAHEAD);
      if (sent === infos.length && !child.stdin.writableEnded) child.stdin.end();
      let left = info.narSize;
      while (left > 0) {
        const data = await reader.next(Math.min(left, maxPiece));
        if (data === undefined) return await fail(`reading ${info.storePath}`);
        left -= data.length;
        yield { index, data };
      }
    }
    if ((await exited) !== 0) await fail("at the end");
  } finally {
    child.kill("SIGKILL");
  }
}
