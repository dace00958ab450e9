import type { ProbeMode } from "../closure/link-probe.js";

const MiB = 1024 * 1024;

/**
 * A throttled push, simulated message by message with a clock of its own
 * (no timers, no waiting): the controller's producer (zstd, or the store
 * read uncompressed) fills a queue; the transport hands messages to a link
 * that holds `bufferMiB` (HTTP/2 window, socket buffers, the agent's pipes)
 * and drains at the slower of the link and the far end's import. What the
 * probe sees is what push-requests.ts measures: how long the transport
 * waited for each message and each message for the transport.
 */
export interface LinkModel {
  /** NAR MiB/s zstd compresses. */
  readonly zstdMiBs: number;
  /** Compressed ÷ original. */
  readonly ratio: number;
  /** NAR MiB/s the store reads uncompressed. */
  readonly sourceMiBs: number;
  /** Wire MiB/s the link carries. */
  readonly linkMiBs: number;
  /** NAR MiB/s the far end imports, per mode (its CPU may be shared with zstd, as on the lab host). */
  readonly importMiBs: { readonly zstd: number; readonly raw: number };
  /** What the link and the far end hold before the transport waits. */
  readonly bufferMiB: number;
}

/** What drives the mode: a fixed one, or a probe that is told every message. */
export interface ModeSource {
  readonly mode: ProbeMode;
  add?(sourceMs: number, linkMs: number, wireBytes: number, narBytes: number): void;
}

/** Messages of this many wire bytes (push-requests.ts's CHUNK). */
const MESSAGE = 128 * 1024;
/** Messages the producer may have ready ahead of the transport (push-requests.ts's QUEUE). */
const QUEUE = 8;

/** Milliseconds until the far end has imported `narMiB` of NAR, the mode chosen per message by `modes`. */
export function simulatePush(model: LinkModel, narMiB: number, modes: ModeSource): number {
  const perMs = (mibs: number) => (mibs * MiB) / 1000;
  const total = narMiB * MiB;
  const slots = Math.max(1, Math.floor((model.bufferMiB * MiB) / MESSAGE));
  const handed: number[] = [];
  const finished: number[] = [];
  /** The mode a message was produced in: the one in force when it entered the queue. */
  const modeAt: ProbeMode[] = [];
  let ready = 0;
  let carried = 0;
  for (let i = 0; carried < total; i++) {
    const mode = i < QUEUE ? "zstd" : (modeAt[i - QUEUE] ?? "zstd");
    const nar = Math.min(total - carried, mode === "zstd" ? MESSAGE / model.ratio : MESSAGE);
    const wire = mode === "zstd" ? nar * model.ratio : nar;
    carried += nar;
    const room = i >= QUEUE ? (handed[i - QUEUE] ?? 0) : 0;
    ready = Math.max(ready, room) + nar / perMs(mode === "zstd" ? model.zstdMiBs : model.sourceMiBs);
    const asked = handed[i - 1] ?? 0;
    const got = Math.max(asked, ready);
    const taken = Math.max(got, i >= slots ? (finished[i - slots] ?? 0) : 0);
    handed.push(taken);
    const service = Math.max(wire / perMs(model.linkMiBs), nar / perMs(model.importMiBs[mode]));
    finished.push(Math.max(taken, finished[i - 1] ?? 0) + service);
    modes.add?.(got - asked, taken - got, wire, nar);
    modeAt.push(modes.mode);
  }
  return finished.at(-1) ?? 0;
}
