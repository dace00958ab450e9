import { access, constants, readFile, readlink, stat } from "node:fs/promises";
import type { SystemInspector } from "../deployment/ports.js";
import { AgentError } from "../errors.js";
import type { CommandRunner } from "./command.js";

export interface InspectorDeps {
  readonly runner: CommandRunner;
  readonly currentSystemLink: string;
  readonly switchLockFile: string;
  readonly validateStorePath: (path: string) => void;
  readonly isValidInStore: (path: string) => Promise<boolean>;
}

export class RobotSystemInspector implements SystemInspector {
  constructor(private readonly d: InspectorDeps) {}

  async runningSystem(): Promise<string | undefined> {
    try {
      return await readlink(this.d.currentSystemLink);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async assertSystem(storePath: string): Promise<void> {
    this.d.validateStorePath(storePath);
    if (!(await this.d.isValidInStore(storePath))) {
      throw new AgentError("NOT_FOUND", `${storePath} is not valid in the robot's Nix store; push it first`);
    }
    const script = `${storePath}/bin/switch-to-configuration`;
    try {
      const st = await stat(script);
      if (!st.isFile()) throw new Error("not a file");
      await access(script, constants.X_OK);
    } catch (cause) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        `${storePath} does not look like a NixOS system: no executable bin/switch-to-configuration`,
        { cause },
      );
    }
  }

  async switchLockHeld(): Promise<boolean> {
    try {
      await stat(this.d.switchLockFile);
    } catch {
      return false;
    }
    // flock(1) tries the same non-blocking lock switch-to-configuration takes.
    const r = await this.d.runner.run(
      ["flock", "--nonblock", "--conflict-exit-code", "75", this.d.switchLockFile, "true"],
      {
        timeoutMs: 5_000,
      },
    );
    return r.code === 75;
  }

  /**
   * The kernel's boot id alone does not change when a container reboots, so
   * the start time of PID 1 (in ticks since the kernel booted) goes with it.
   */
  async bootId(): Promise<string> {
    const [kernel, stat1] = await Promise.all([
      readFile("/proc/sys/kernel/random/boot_id", "utf8"),
      readFile("/proc/1/stat", "utf8"),
    ]);
    // Field 22 (starttime) counts from after the ")" that ends the command name.
    const fields = stat1.slice(stat1.lastIndexOf(")") + 2).split(" ");
    return `${kernel.trim()}:${fields[19] ?? "?"}`;
  }
}
