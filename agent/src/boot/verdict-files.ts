import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Where boot-verdict.sh (agent/boot/) waits for the agent; /run is empty after every boot. */
export const VERDICT_DIR = "/run/ros-rollback/boot";

export type BootVerdict = "good" | "bad";

/** The agent's side of the boot-verdict gate: `judging`, then `verdict`. */
export interface VerdictFiles {
  /** The agent takes this boot's judgement up: the watchdog stops counting. */
  judging(): Promise<void>;
  /** The verdict, once: boot-complete.target is reached (good) or fails (bad). */
  verdict(v: BootVerdict): Promise<void>;
  /** The verdict written in this boot, if any (a restarted agent must not judge twice). */
  current(): Promise<BootVerdict | undefined>;
}

export class RunDirVerdictFiles implements VerdictFiles {
  constructor(private readonly dir: string = VERDICT_DIR) {}

  judging(): Promise<void> {
    return this.put("judging", "");
  }

  verdict(v: BootVerdict): Promise<void> {
    return this.put("verdict", v);
  }

  async current(): Promise<BootVerdict | undefined> {
    try {
      const text = (await readFile(join(this.dir, "verdict"), "utf8")).trim();
      return text === "good" || text === "bad" ? text : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  // Renamed into place: the script polls for the file and must never read half of it.
  private async put(name: string, text: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, join(this.dir, name));
  }
}
