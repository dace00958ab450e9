/** What a switch did (or, for dry-activate, would do) to units. */
export interface UnitChanges {
  readonly stopped: readonly string[];
  readonly started: readonly string[];
  readonly restarted: readonly string[];
  readonly reloaded: readonly string[];
}

/** Unit → InvocationID (empty when not running), as systemd reports them. */
export type UnitInvocations = Readonly<Record<string, string>>;

/** A switch of a big system lists hundreds; a record keeps this many per list. */
const MAX_UNITS = 500;
const UNIT = /^[A-Za-z0-9:_.@\\-]+\.[a-z]+$/;

type Kind = keyof UnitChanges;

/**
 * switch-to-configuration's own lines (NixOS's wording; dry-activate says
 * "would …"). "NOT restarting/stopping" lines are changes it left alone.
 */
const LINES: readonly [RegExp, Kind][] = [
  [/^(?:would stop|stopping) the following units: (.*)$/, "stopped"],
  [/^(?:would restart|restarting) the following units: (.*)$/, "restarted"],
  [/^(?:would reload|reloading) the following units: (.*)$/, "reloaded"],
  [/^(?:would start|starting) the following units: (.*)$/, "started"],
  [/^the following new units were started: (.*)$/, "started"],
  [/^would activate the following new units: (.*)$/, "started"],
];

export const NO_CHANGES: UnitChanges = { stopped: [], started: [], restarted: [], reloaded: [] };

export function parseSwitchOutput(text: string): UnitChanges {
  const sets: Record<Kind, Set<string>> = {
    stopped: new Set(),
    started: new Set(),
    restarted: new Set(),
    reloaded: new Set(),
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    for (const [re, kind] of LINES) {
      const m = re.exec(line);
      if (m === null) continue;
      for (const u of (m[1] ?? "").split(/[,\s]+/)) if (UNIT.test(u)) sets[kind].add(u);
      break;
    }
  }
  // NixOS stops a unit and starts it again when it cannot restart it in place: that is a restart.
  for (const u of sets.stopped) {
    if (sets.started.has(u)) {
      sets.started.delete(u);
      sets.stopped.delete(u);
      sets.restarted.add(u);
    }
  }
  for (const u of sets.restarted) {
    sets.started.delete(u);
    sets.reloaded.delete(u);
  }
  return {
    stopped: sorted(sets.stopped),
    started: sorted(sets.started),
    restarted: sorted(sets.restarted),
    reloaded: sorted(sets.reloaded),
  };
}

/**
 * Corrects what the switch said with what systemd knows: a unit that ran
 * before and runs now under a new InvocationID was restarted, whatever the
 * output said (it may also have restarted by dependency). `stoppedByAgent`
 * (the data writers the agent stopped around the switch) are classified from
 * the two pictures alone: the switch saw them stopped, so its word is no guide.
 */
export function reconcile(
  said: UnitChanges,
  before: UnitInvocations,
  after: UnitInvocations,
  stoppedByAgent: readonly string[] = [],
): UnitChanges {
  const running = (m: UnitInvocations, u: string) => (m[u] ?? "") !== "";
  const restarted = new Set(said.restarted);
  for (const [unit, id] of Object.entries(before)) {
    const now = after[unit];
    if (id !== "" && now !== undefined && now !== "" && now !== id) restarted.add(unit);
  }
  const stopped = new Set(said.stopped);
  const started = new Set(said.started);
  for (const u of stoppedByAgent) {
    stopped.delete(u);
    started.delete(u);
    if (running(before, u) && !running(after, u)) stopped.add(u);
    else if (!running(before, u) && running(after, u)) started.add(u);
  }
  const not = (u: string) => !restarted.has(u);
  return {
    stopped: sorted([...stopped].filter(not)),
    started: sorted([...started].filter(not)),
    restarted: sorted(restarted),
    reloaded: said.reloaded.filter(not),
  };
}

/** Parses `systemctl show -p Id,InvocationID UNIT…` (blocks separated by blank lines). */
export function parseInvocations(text: string): UnitInvocations {
  const out: Record<string, string> = {};
  for (const block of text.split(/\n\s*\n/)) {
    let id: string | undefined;
    let inv = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("Id=")) id = line.slice(3).trim();
      else if (line.startsWith("InvocationID=")) inv = line.slice(13).trim();
    }
    if (id !== undefined && UNIT.test(id)) out[id] = inv;
  }
  return out;
}

function sorted(s: Iterable<string>): string[] {
  return [...s].sort().slice(0, MAX_UNITS);
}
