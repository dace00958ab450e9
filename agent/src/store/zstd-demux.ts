import { PassThrough, Writable } from "node:stream";
import { writeTo } from "@ros-rollback/nix-core";
import { AgentError } from "../errors.js";
import type { Decompressor } from "./decompressor.js";
import { rawFrame, ZstdFrames } from "./zstd-frames.js";

/**
 * COMPRESSION_ZSTD with the raw frames split out (zstd-frames.ts): stored
 * bytes go straight to the output, compressed stretches through a zstd -d
 * each (`open`). A stretch ends before stored bytes that follow it, so the
 * output keeps the stream's order.
 */
export async function openZstdDemux(
  open: (signal: AbortSignal) => Promise<Decompressor>,
  signal: AbortSignal,
): Promise<Decompressor> {
  // Buffers as they come: a byte stream would join what is queued into a copy at each read.
  const out = new PassThrough({ objectMode: true, highWaterMark: QUEUE });
  const frames = new ZstdFrames();
  let zstd: { d: Decompressor; pumped: Promise<void>; used: boolean } | undefined;
  let stretches = 0;
  const all: Decompressor[] = [];

  const endStretch = async () => {
    const z = zstd;
    if (z === undefined) return;
    zstd = undefined;
    if (!z.used) {
      z.d.destroy(); // zstd -d fails on no input at all
      return;
    }
    z.d.input.end();
    await z.pumped; // all its output out (and its exit status checked) before what follows
  };
  const start = async () => {
    stretches++;
    const d = await open(signal);
    all.push(d);
    const z = { d, used: false, pumped: Promise.resolve() };
    z.pumped = (async () => {
      for await (const b of d.output) await writeTo(out, b, signal);
    })();
    z.pumped.catch((e: unknown) => {
      if (z.used) out.destroy(e as Error);
    });
    return z;
  };
  // The first one now: a robot without zstd refuses the push before any data.
  zstd = await start();
  const toZstd = async (data: Buffer) => {
    zstd ??= await start();
    const z = zstd;
    z.used = true;
    try {
      await writeTo(z.d.input, data, signal);
    } catch (e) {
      await z.pumped; // a zstd that stopped says why (corrupt data) rather than "closed"
      throw e;
    }
  };
  const handle = async (chunk: Buffer) => {
    for (const p of frames.push(chunk)) {
      if (p.to === "zstd") await toZstd(p.data);
      // A client alternating frames would cost a process each: past a few, the last zstd takes the rest.
      else if (stretches >= MAX_STRETCHES && zstd !== undefined)
        for (const b of rawFrame(p.data)) await toZstd(b);
      else {
        await endStretch();
        await writeTo(out, p.data, signal);
      }
    }
  };
  const fail = (e: unknown, cb: (e?: Error | null) => void) => {
    for (const d of all) d.destroy();
    out.destroy(e as Error);
    cb(e as Error);
  };

  const input = new Writable({
    highWaterMark: CHUNK,
    write(chunk: Buffer, _enc, cb) {
      handle(chunk).then(
        () => cb(),
        (e: unknown) => fail(e, cb),
      );
    },
    final(cb) {
      endStretch().then(
        () => {
          if (!frames.atFrameBoundary)
            return fail(
              new AgentError("INVALID_ARGUMENT", "cannot decompress the push (zstd): it ends inside a frame"),
              cb,
            );
          out.end();
          cb();
        },
        (e: unknown) => fail(e, cb),
      );
    },
    destroy(e, cb) {
      // Also called after a normal finish (autoDestroy): the output may still hold buffers to read.
      if (e) {
        for (const d of all) d.destroy();
        out.destroy(e);
      }
      cb(e);
    },
  });
  return {
    input,
    output: out,
    destroy: () => {
      for (const d of all) d.destroy();
      input.destroy();
      out.destroy();
    },
  };
}

const CHUNK = 128 * 1024;
/** Buffers (zstd's 64 KiB reads, raw blocks of up to 128 KiB) waiting for the importer. */
const QUEUE = 8;
/** zstd -d processes one push may start; the controller's auto needs three at most. */
export const MAX_STRETCHES = 16;
