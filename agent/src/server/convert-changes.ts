import {
  type Hold as PbHold,
  HoldSource as PbHoldSource,
  type UnitChanges as PbUnitChanges,
} from "@ros-rollback/proto";
import { clip, type Hold, type HoldSource, MAX_REASON } from "../holds/types.js";
import type { UnitChanges } from "../system/unit-changes.js";
import { printable } from "../text/printable.js";

export function unitChangesToPb(c: UnitChanges | undefined): PbUnitChanges {
  if (c === undefined) return { stopped: [], started: [], restarted: [], reloaded: [], known: false };
  return {
    stopped: [...c.stopped],
    started: [...c.started],
    restarted: [...c.restarted],
    reloaded: [...c.reloaded],
    known: true,
  };
}

const SOURCE_TO_PB: Readonly<Record<HoldSource, PbHoldSource>> = {
  command: PbHoldSource.HOLD_SOURCE_COMMAND,
  file: PbHoldSource.HOLD_SOURCE_FILE,
  condition: PbHoldSource.HOLD_SOURCE_CONDITION,
};

/** Every source's names and reasons leave the agent escaped and bounded (a stored reason may predate the check). */
export function holdToPb(h: Hold): PbHold {
  return {
    name: printable(h.name),
    source: SOURCE_TO_PB[h.source],
    reason: clip(h.reason, MAX_REASON),
    sinceUnixMs: Math.round(h.since),
    expiresAtUnixMs: h.expiresAt ?? 0,
  };
}
