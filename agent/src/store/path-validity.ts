import type { StoreImport } from "./nix-store.js";

/**
 * What the robot's store is known to have, learned during one push. Asking
 * for a path's references together with the paths announced next keeps a
 * push to a few round trips instead of one per path. A path found valid
 * stays valid: the query connection holds temp GC roots for it.
 */
export class PathValidity {
  private readonly valid = new Set<string>();
  private readonly invalid = new Set<string>();

  constructor(
    private readonly session: StoreImport,
    /** Paths this push already sent or skipped: as good as valid for the paths after them. */
    private readonly seen: ReadonlySet<string>,
  ) {}

  isValid(path: string): boolean {
    return this.valid.has(path);
  }

  /** Learns about `paths`; if any is unknown, asks about `lookahead` in the same query. */
  async learn(paths: readonly string[], lookahead: readonly string[]): Promise<void> {
    const known = (p: string) => this.seen.has(p) || this.valid.has(p) || this.invalid.has(p);
    const ask = new Set(paths.filter((p) => !known(p)));
    if (ask.size === 0) return;
    for (const p of lookahead) if (!known(p)) ask.add(p);
    await this.ask([...ask]);
  }

  /** References of `path` that are neither valid nor sent earlier in this push. */
  async missingReferences(path: string, references: readonly string[]): Promise<string[]> {
    const absent = () => references.filter((r) => r !== path && !this.seen.has(r) && !this.valid.has(r));
    if (absent().length === 0) return [];
    await this.ask(absent()); // another push may have brought them meanwhile
    return absent();
  }

  private async ask(paths: readonly string[]): Promise<void> {
    const valid = await this.session.queryValid(paths);
    for (const p of paths) {
      if (valid.has(p)) {
        this.valid.add(p);
        this.invalid.delete(p);
      } else this.invalid.add(p);
    }
  }
}
