import type { BootLoader } from "./boot-loader.js";
import type { Power } from "./power.js";
import type { VerdictFiles } from "./verdict-files.js";

/** What a deployment across a counted reboot needs; absent when config boot.counting is off. */
export interface BootPorts {
  readonly loader: BootLoader;
  readonly power: Power;
  readonly verdict: VerdictFiles;
  /** Tries a new generation's entry gets when its installer wrote it without a counter (config boot.tries). */
  readonly tries: number;
}
