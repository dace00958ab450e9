// Holding the lab robot's agent in one deployment state, and faulting it there: flags for
// fault-hold.sh, the agent's persisted record, strace to freeze it right after a record write.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { agentPid, HOLD_DIR, hostPid, labExec } from "../lab/index.js";

const RECORD = "/var/lib/ros-rollback/deployment.json";

/** The fields of the agent's persisted record (agent/src/deployment/record.ts) the scenario reads. */
export interface RecordView {
  readonly id: string;
  readonly state: string;
  readonly switchUnit?: string;
  readonly rollbackUnit?: string;
}

export async function until<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end)
      throw new Error(`${typeof what === "string" ? what : what()}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export class Robot {
  private readonly straces = new Set<ChildProcess>();

  constructor(readonly name: string) {}

  /** Kills every strace this object started that may still run (after a failed cell, at the end). */
  stopFreezes(): void {
    for (const s of this.straces) s.kill("SIGKILL");
    this.straces.clear();
  }

  exec(argv: readonly string[], timeoutMs = 30_000, input?: string) {
    return labExec(this.name, argv, { timeoutMs, input });
  }

  /** Sets a fault-hold.sh flag (TOOL.before / TOOL.after with a word, or a fixture's flag). */
  async hold(flag: string, word = ""): Promise<void> {
    const r = await this.exec([
      "sh",
      "-c",
      `mkdir -p ${HOLD_DIR} && printf %s "$1" > ${HOLD_DIR}/$0`,
      flag,
      word,
    ]);
    if (r.code !== 0) throw new Error(`cannot set hold ${flag}: ${r.stderr}`);
  }

  async release(flag?: string): Promise<void> {
    await this.exec(["rm", "-rf", flag === undefined ? HOLD_DIR : `${HOLD_DIR}/${flag}`]);
  }

  /** Waits until a call is held by TOOL.before / TOOL.after. */
  async held(flag: string, timeoutMs = 60_000): Promise<void> {
    await until(
      `a call held by ${flag}`,
      async () =>
        (await this.exec(["test", "-e", `${HOLD_DIR}/${flag}.held`])).code === 0 ? true : undefined,
      timeoutMs,
    );
  }

  /** The record as the agent last persisted it. */
  async record(): Promise<RecordView | undefined> {
    const r = await this.exec(["cat", RECORD]);
    return r.code === 0 ? (JSON.parse(r.stdout) as RecordView) : undefined;
  }

  async recordIn(states: readonly string[], id?: string, timeoutMs = 60_000): Promise<RecordView> {
    let last = "none";
    return until(
      () => `record in ${states.join("|")} (last: ${last})`,
      async () => {
        const r = await this.record();
        last = r?.state ?? "none";
        return r && states.includes(r.state) && (id === undefined || r.id === id) ? r : undefined;
      },
      timeoutMs,
    );
  }

  /** SIGKILLs the agent; returns its pid and the record it left (a dead agent writes nothing more). */
  async killAgent(): Promise<{ pid: number; record: RecordView }> {
    const pid = await agentPid(this.name);
    if (pid === 0) throw new Error("the agent is not running");
    const r = await this.exec(["sh", "-c", `kill -9 "$0" && cat ${RECORD}`, String(pid)]);
    if (r.code !== 0) throw new Error(`kill -9 ${pid}: ${r.stderr}`);
    return { pid, record: JSON.parse(r.stdout) as RecordView };
  }

  /** Waits until systemd has started a new agent (Restart=always, RestartSec=1). */
  async agentRestarted(old: number): Promise<void> {
    await until(
      "a restarted agent",
      async () => {
        const now = await agentPid(this.name);
        return now !== 0 && now !== old ? true : undefined;
      },
      30_000,
    );
  }

  /**
   * Attaches strace to every thread of the agent so that its next rename(2) — the next record
   * write (write temp file, fsync, rename) — completes and then does not return for 10 min:
   * the agent stays in the state that write persisted. stop() kills strace: a strace in a delay
   * handles no signal, and a traced process that dies stays a zombie until its tracer is gone.
   */
  async freezeAfterNextRecordWrite(init: number): Promise<{ stop(): void }> {
    const pid = hostPid(init, await agentPid(this.name));
    const tids = readdirSync(`/proc/${pid}/task`);
    const syscalls = "rename,renameat,renameat2";
    const strace = spawn(
      "strace",
      [
        "-o",
        "/dev/null",
        ...tids.flatMap((t) => ["-p", t]),
        "-e",
        `trace=${syscalls}`,
        "-e",
        `inject=${syscalls}:delay_exit=600000000`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.straces.add(strace);
    strace.on("exit", () => this.straces.delete(strace));
    let attached = 0;
    await new Promise<void>((resolve, reject) => {
      strace.stderr.setEncoding("utf8").on("data", (d: string) => {
        attached += d.split("\n").filter((l) => / attached$/.test(l)).length;
        if (attached >= tids.length) resolve();
      });
      strace.on("error", reject);
      strace.on("exit", (code) =>
        reject(new Error(`strace exited (${code}) after attaching ${attached} threads`)),
      );
    });
    return { stop: () => strace.kill("SIGKILL") };
  }
}
