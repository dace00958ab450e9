import { access, constants, type FileHandle, open, readFile, readlink, stat } from "node:fs/promises";
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
    let lock: FileHandle;
    try {
      lock = await open(this.d.switchLockFile, "r");
    } catch {
      return false;
    }
    try {
      // flock(1) tries, on our open file, the same non-blocking lock switch-to-configuration
      // takes; given the descriptor it runs no command of its own (one exec on the Activate
      // path instead of two, issue 13). Our lock, if it got it, goes when we close the file.
      const r = await this.d.runner.run(["flock", "--nonblock", "--conflict-exit-code", "75", "3"], {
        timeoutMs: 5_000,
        fds: [lock.fd],
      });
      return r.code === 75;
    } finally {
      await lock.close();
    }
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
