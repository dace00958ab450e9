import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { until, useMonitorRig } from "../testing/monitor-rig.js";
import { rosApiCall } from "./xmlrpc.js";

const CHILD = fileURLToPath(new URL("../testing/monitor-child.ts", import.meta.url));

// Real ROS 1 (Debian's roscore) and rosnodejs in a child process like the agent
// (testing/monitor-child.ts, testing/monitor-rig.ts).

const mr = useMonitorRig();

describe("signals in a process like the agent (real child processes)", () => {
  async function child(args: string[]): Promise<{ proc: ReturnType<typeof spawn>; out: () => string }> {
    const proc = spawn(process.execPath, ["--import", "tsx", CHILD, mr.ros.masterUri, "/sig", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ROS_MASTER_URI: mr.ros.masterUri },
    });
    let out = "";
    proc.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    proc.stderr?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    try {
      await until("the child to get a message", () => out.includes("ready") || undefined, 15_000);
    } catch (e) {
      proc.kill("SIGKILL");
      throw new Error(`${(e as Error).message}; it printed: ${out}`);
    }
    return { proc, out: () => out };
  }

  function exited(
    proc: ReturnType<typeof spawn>,
    ms: number,
  ): Promise<{ code: number | null; signal: string | null }> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`child still running after ${ms} ms`)), ms);
      proc.once("exit", (code, signal) => {
        clearTimeout(t);
        resolve({ code, signal });
      });
    });
  }

  async function subscribers(topic: string): Promise<string[]> {
    const system = await rosApiCall(mr.ros.masterUri, "getSystemState", ["/test"], { timeoutMs: 2000 });
    const subs = Array.isArray(system) && Array.isArray(system[1]) ? system[1] : [];
    for (const e of subs)
      if (Array.isArray(e) && e[0] === topic && Array.isArray(e[1])) return e[1].map(String);
    return [];
  }

  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s: the handler closes the node, the master forgets it, the process ends by itself",
    async (sig) => {
      const talker = mr.ros.talker("string", "/sig", 20, "/sig_talker");
      const node = `/rr_child_${sig.toLowerCase()}`;
      const { proc, out } = await child([node]);
      try {
        expect(await subscribers("/sig")).toContain(node);
        proc.kill(sig);
        expect(await exited(proc, 5000)).toEqual({ code: 0, signal: null });
        expect(out()).toContain(`closed on ${sig}`);
        expect(await subscribers("/sig")).not.toContain(node);
      } finally {
        proc.kill("SIGKILL");
        await mr.ros.stop(talker);
      }
    },
  );

  it("without a handler, SIGINT still ends the process (rosnodejs' own handler is removed)", async () => {
    const talker = mr.ros.talker("string", "/sig", 20, "/sig_talker2");
    const { proc } = await child(["/rr_child_nohandler", "--no-handler"]);
    try {
      proc.kill("SIGINT");
      expect(await exited(proc, 3000)).toEqual({ code: null, signal: "SIGINT" });
    } finally {
      proc.kill("SIGKILL");
      await mr.ros.stop(talker);
    }
  });
});
