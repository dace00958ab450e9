import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { xmlRpcCall } from "../ros/xmlrpc.js";

/**
 * Real ROS 1 for tests: a roscore on a free loopback port with its own
 * ROS_HOME, and rospy publishers (testing/talker.py). Needs
 * testing/setup-ros.sh to have run. Every process here is started in its own
 * process group and stopped by that group's id; what escapes the group
 * (roslaunch puts rosmaster and rosout in groups of their own) is found by a
 * tag in its environment, which every descendant inherits, and killed too.
 */

export const TALKER = fileURLToPath(new URL("./talker.py", import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The environment variable that marks a rig's processes: `<rig id>:<child number>`. */
const TAG = "RR_ROS_RIG_TAG";

export class RosRig {
  readonly masterUri: string;
  private readonly children = new Set<ChildProcess>();
  private readonly id = randomUUID();
  private readonly tags = new Map<ChildProcess, string>();
  core: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly home: string,
  ) {
    this.masterUri = `http://127.0.0.1:${port}`;
  }

  static async create(): Promise<RosRig> {
    const home = await mkdtemp(join(tmpdir(), "rr-ros-"));
    return new RosRig(await freePort(), home);
  }

  env(): NodeJS.ProcessEnv {
    return {
      // The PATH python3 may be a build without rospy; ROS scripts use /usr/bin/python3.
      PATH: "/usr/bin:/bin",
      HOME: this.home,
      ROS_HOME: this.home,
      ROS_LOG_DIR: join(this.home, "log"),
      ROS_MASTER_URI: this.masterUri,
      ROS_IP: "127.0.0.1",
      ROS_HOSTNAME: "127.0.0.1",
      PYTHONUNBUFFERED: "1",
    };
  }

  private start(argv: readonly string[]): ChildProcess {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error("empty argv");
    const tag = `${this.id}:${this.tags.size + 1}`;
    const child = spawn(file, args, {
      env: { ...this.env(), [TAG]: tag },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    child.stderr?.resume();
    child.on("exit", () => this.children.delete(child));
    this.children.add(child);
    // Kept after the exit: what escaped the child's group outlives it.
    this.tags.set(child, tag);
    return child;
  }

  /** Starts roscore and waits until the master answers (about 0.6 s). */
  async startCore(): Promise<void> {
    this.core = this.start(["/usr/bin/roscore", "-p", String(this.port)]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await xmlRpcCall(this.masterUri, "getParam", ["/test", "/run_id"], { timeoutMs: 500 });
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`roscore did not come up on ${this.masterUri}`);
        await sleep(100);
      }
    }
  }

  async stopCore(): Promise<void> {
    if (this.core !== undefined) await this.stop(this.core);
    this.core = undefined;
  }

  /** A rospy publisher; see talker.py for kinds. */
  talker(
    kind: "string" | "header" | "pose" | "custom",
    topic: string,
    rateHz: number,
    node: string,
  ): ChildProcess {
    return this.start(["/usr/bin/python3", TALKER, kind, topic, String(rateHz), `__name:=${node}`]);
  }

  /** Signals the child's whole process group (roscore has rosmaster and rosout under it). */
  signal(child: ChildProcess, sig: NodeJS.Signals): void {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(-child.pid, sig);
  }

  /**
   * Signals every process under `child` (roslaunch puts rosmaster and rosout in
   * process groups of their own, so a group signal does not reach them).
   */
  async signalTree(child: ChildProcess, sig: NodeJS.Signals): Promise<void> {
    if (child.pid === undefined) return;
    for (const pid of [child.pid, ...(await descendants(child.pid))]) {
      try {
        process.kill(pid, sig);
      } catch {
        // Already gone.
      }
    }
  }

  /**
   * SIGTERM to its group, then SIGKILL after 3 s; once it exited, every
   * process it started that is still there (its tag) is SIGKILLed. Resolves
   * when all are gone.
   */
  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      this.signal(child, "SIGCONT");
      this.signal(child, "SIGTERM");
      const timer = setTimeout(() => this.signal(child, "SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    const tag = this.tags.get(child);
    await killTagged((t) => t === tag);
  }

  /** Stops every child, then kills whatever any of them left (every process the rig started is gone). */
  async close(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
    await killTagged((t) => t.startsWith(`${this.id}:`));
    await rm(this.home, { recursive: true, force: true });
  }

  /** The live processes this rig started (its children and everything below them, escaped or not). */
  processes(): Promise<number[]> {
    return tagged((t) => t.startsWith(`${this.id}:`));
  }
}

/** Live processes whose TAG `match` accepts (a zombie's environment reads empty). */
async function tagged(match: (tag: string) => boolean): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const env = await readFile(`/proc/${name}/environ`, "latin1").catch(() => "");
    const tag = env
      .split("\0")
      .find((v) => v.startsWith(`${TAG}=`))
      ?.slice(TAG.length + 1);
    if (tag !== undefined && match(tag)) found.push(Number(name));
  }
  return found;
}

/** SIGKILLs the tagged processes until none is left (a few rounds: one may fork meanwhile). */
async function killTagged(match: (tag: string) => boolean): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const left = await tagged(match);
    if (left.length === 0) return;
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    await sleep(20);
  }
  throw new Error("processes of the ROS rig survive SIGKILL");
}

/** Processes below `pid`, from /proc. */
export async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid ...: comm may hold spaces and parentheses; ppid follows the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const kids = parents.get(ppid) ?? [];
    kids.push(Number(name));
    parents.set(ppid, kids);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const k of parents.get(p) ?? []) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}
