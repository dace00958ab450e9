import type { AgentProgress, ProbeMode } from "../push/link-probe.js";

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

/** What drives the mode: a fixed one, or a probe that is told every message (and the agent's reports). */
export interface ModeSource {
  readonly mode: ProbeMode;
  add?(sourceMs: number, linkMs: number, wireBytes: number, narBytes: number): void;
  progress?(atMs: number, p: AgentProgress): void;
}

/** The far end reports what it imported like the agent's raw channel (raw-push/progress.ts). */
export interface AgentReporting {
  readonly everyBytes: number;
  readonly everyMs: number;
}
export const AGENT_REPORTS: AgentReporting = { everyBytes: MiB, everyMs: 50 };

/** Messages of this many wire bytes (push-requests.ts's CHUNK). */
const MESSAGE = 128 * 1024;
/** Messages the producer may have ready ahead of the transport (push-requests.ts's QUEUE). */
const QUEUE = 8;

/**
 * Milliseconds until the far end has imported `narMiB` of NAR, the mode chosen per message by `modes`;
 * with `reports`, the far end's progress reaches `modes` when the controller's clock passes it.
 */
export function simulatePush(
  model: LinkModel,
  narMiB: number,
  modes: ModeSource,
  reports?: AgentReporting,
): number {
  const perMs = (mibs: number) => (mibs * MiB) / 1000;
  const total = narMiB * MiB;
  const slots = Math.max(1, Math.floor((model.bufferMiB * MiB) / MESSAGE));
  const handed: number[] = [];
  const finished: number[] = [];
  /** The mode a message was produced in: the one in force when it entered the queue. */
  const modeAt: ProbeMode[] = [];
  let ready = 0;
  let carried = 0;
  const pending: { at: number; p: AgentProgress }[] = [];
  const far = { wire: 0, nar: 0, waited: 0, sentWire: 0, sentAt: 0 };
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
    const done = Math.max(taken, finished[i - 1] ?? 0) + service;
    finished.push(done);
    if (reports !== undefined) {
      far.wire += wire;
      far.nar += nar;
      // The importer waits for the message to arrive, then for the link beyond its own pace.
      far.waited +=
        Math.max(0, taken - (finished[i - 1] ?? 0)) + service - nar / perMs(model.importMiBs[mode]);
      if (far.wire - far.sentWire >= reports.everyBytes || done - far.sentAt >= reports.everyMs) {
        far.sentWire = far.wire;
        far.sentAt = done;
        pending.push({
          at: done,
          p: { wireBytes: far.wire, narBytes: far.nar, waitedUs: far.waited * 1000 },
        });
      }
      while (pending.length > 0 && (pending[0]?.at ?? Infinity) <= taken) {
        const r = pending.shift();
        if (r !== undefined) modes.progress?.(r.at, r.p);
      }
    }
    modes.add?.(got - asked, taken - got, wire, nar);
    modeAt.push(modes.mode);
  }
  return finished.at(-1) ?? 0;
}
