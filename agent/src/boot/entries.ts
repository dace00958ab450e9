// systemd-boot's loader entry names for NixOS generations, with boot counting:
//   nixos-generation-N.conf            blessed (or never counted)
//   nixos-generation-N+LEFT.conf       counted, not booted yet
//   nixos-generation-N+LEFT-DONE.conf  counted, booted DONE times; +0-DONE is bad (sorted last)

/** One loader entry of a generation, as its file name says. */
export interface LoaderEntry {
  readonly generation: number;
  /** The file name in $ESP/loader/entries. */
  readonly file: string;
  /** Tries left; undefined when the entry carries no counter (blessed). */
  readonly triesLeft: number | undefined;
  /** Boots counted so far (0 before the first). */
  readonly triesDone: number;
}

const ENTRY = /^nixos-generation-(\d{1,9})(?:\+(\d{1,4})(?:-(\d{1,4}))?)?\.conf$/;

/** The entry a file name describes; undefined for any other file (specialisations included). */
export function parseEntryName(file: string): LoaderEntry | undefined {
  const m = ENTRY.exec(file);
  if (m === null) return undefined;
  const [, gen = "", left, done] = m;
  return {
    generation: Number(gen),
    file,
    triesLeft: left === undefined ? undefined : Number(left),
    triesDone: done === undefined ? 0 : Number(done),
  };
}

/** Blessed: no counter left in the name. */
export function isBlessed(e: LoaderEntry): boolean {
  return e.triesLeft === undefined;
}

/** Out of tries: the loader no longer picks it by itself. */
export function isBad(e: LoaderEntry): boolean {
  return e.triesLeft === 0;
}

/**
 * The generation an entry id names. LoaderEntrySelected holds the id, which carries the counter
 * or not depending on the systemd-boot version; both forms are read.
 */
export function generationOfEntryId(id: string): number | undefined {
  const file = id.endsWith(".conf") ? id : `${id}.conf`;
  return parseEntryName(file)?.generation;
}
