// Boot counting for deployer tests: a real temporary ESP (real entry files, renamed as systemd-boot
// and systemd-bless-boot would), real verdict files, a real systemd-bless-boot stand-in (a script
// that records its arguments); the reboot is a recording fake (the real one is proven on the VM).
// `boot` closes nothing: the caller closes the agent first, as a reset would.
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EspBootLoader } from "../boot/boot-loader.js";
import type { BootPorts } from "../boot/ports.js";
import type { Power } from "../boot/power.js";
import { RunDirVerdictFiles } from "../boot/verdict-files.js";
import { ProcessRunner } from "../system/command.js";
import type { DeployerLab, Rig, RigOptions } from "./deployer-rig.js";

export class RecordingPower implements Power {
  reboots = 0;
  async reboot(): Promise<void> {
    this.reboots++;
  }
}

let boots = 0;

export class CountingBoot {
  readonly entries: string;
  readonly runDir: string;
  readonly blessLog: string;
  readonly power = new RecordingPower();
  readonly ports: BootPorts;

  private constructor(
    private readonly lab: DeployerLab,
    private readonly tmp: string,
  ) {
    this.entries = join(tmp, "esp", "loader", "entries");
    this.runDir = join(tmp, "run");
    this.blessLog = join(tmp, "bless.log");
    this.ports = {
      loader: new EspBootLoader({
        esp: join(tmp, "esp"),
        efivars: join(tmp, "efivars"),
        blessBoot: join(tmp, "systemd-bless-boot"),
        runner: new ProcessRunner(),
      }),
      power: this.power,
      verdict: new RunDirVerdictFiles(this.runDir),
      tries: 3,
    };
  }

  static async create(lab: DeployerLab): Promise<CountingBoot> {
    const tmp = await mkdtemp(join(tmpdir(), "rr-bootcount-"));
    const b = new CountingBoot(lab, tmp);
    await mkdir(b.entries, { recursive: true });
    const bless = join(tmp, "systemd-bless-boot");
    await writeFile(bless, `#!/bin/sh\necho "$@" >> ${b.blessLog}\n`);
    await chmod(bless, 0o755);
    return b;
  }

  cleanup(): Promise<void> {
    return rm(this.tmp, { recursive: true, force: true });
  }

  async entryFiles(): Promise<string[]> {
    return (await readdir(this.entries)).sort();
  }

  /** What the agent left in /run/ros-rollback/boot, as boot-verdict.sh sees it. */
  async runFiles(): Promise<string[]> {
    // Not the writer's temporary files: the agent rewrites `judging` at every step (tmp, then rename).
    return (await readdir(this.runDir).catch(() => [])).filter((f) => !f.startsWith(".")).sort();
  }

  /** A file's text, "" when it is missing. */
  read(f: string): Promise<string> {
    return readFile(f, "utf8").catch(() => "");
  }

  /** Writes an empty loader entry (what switch-to-configuration writes; the fake switcher writes none). */
  entry(file: string): Promise<void> {
    return writeFile(join(this.entries, file), "");
  }

  /** A reset or reboot: the loader counts a try (`from` → `to`), the robot runs `running`, a new agent starts. */
  async boot(
    first: Rig,
    name: string,
    from: string,
    to: string,
    running: string | undefined,
    o: Pick<RigOptions, "health" | "data"> = {},
  ) {
    if (from !== to) await rename(join(this.entries, from), join(this.entries, to));
    await rm(this.runDir, { recursive: true, force: true }); // /run is empty after every boot
    first.system.boot = `boot-after-${boots++}`;
    first.system.running = running;
    return this.lab.rig(name, { ...o, system: first.system, boot: this.ports });
  }

  /** systemd-bless-boot: once the verdict is `good` (boot-complete.target), `from` becomes `to`. */
  async blessWhenGood(from: string, to: string): Promise<void> {
    const giveUp = Date.now() + 10_000;
    while ((await this.read(join(this.runDir, "verdict"))) !== "good") {
      if (Date.now() > giveUp) throw new Error("the agent never wrote the verdict good");
      await new Promise((r) => setTimeout(r, 20));
    }
    await rename(join(this.entries, from), join(this.entries, to));
  }
}
