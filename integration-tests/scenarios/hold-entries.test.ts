// Issue 24 on a lab robot: what an unprivileged member of the hold group can put in the hold
// directory (symlinks to root-only files and to the agent's environment, a FIFO, a directory, a
// socket, a file it keeps to itself, a reason full of escape sequences) holds the robot, named by
// its kind, and never leaks, blocks the agent or reaches a terminal raw. Then the watchdog: an
// agent whose libuv thread pool is stuck is restarted by systemd.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_HOLD_DIR, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { getStatus } from "../support/agent.js";
import { agentClient, controller } from "../support/controller.js";
import { until } from "../support/faults.js";

const NAME = "hx-entries";
const MEMBER = "hx-holder";
const SECRET = "hx-root-only-secret-7f3a";
const MEMBER_SECRET = "hx-member-private-91c2";
/** In the agent's environment (the lab unit's Environment=): /proc/self/environ must not show it. */
const AGENT_ENV = "NIX_CONFIG=";
/** What a terminal acts on, line breaks aside. */
const UNSAFE = /[\p{Cc}\u202a-\u202e]/u;
let robot: LabRobot;

const inRobot = async (argv: string[], input?: string) => {
  const r = await labExec(NAME, argv, { timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });
  expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const asMember = (script: string) => inRobot(["runuser", "-u", MEMBER, "--", "sh", "-c", script]);
const systemctlShow = async (prop: string) =>
  (await inRobot(["systemctl", "show", "-p", prop, "--value", "ros-rollback-agent.service"])).trim();

const EXPECTED = [
  ["dir", "directory (not read)"],
  ["environ", "symlink (not followed)"],
  ["fifo", "fifo (not read)"],
  ["private", "file the hold group may not read (not read)"],
  ["shadow", "symlink (not followed)"],
  ["sock", "socket (not read)"],
  ["title", "\\u001b]0;owned\\u0007\\u001b[2Jcleared"],
];

beforeAll(async () => {
  robot = await labUp(NAME);
  await waitForAgent(NAME, { timeoutMs: 30_000 });
}, 240_000);
afterAll(() => labDown(NAME), 60_000);

describe("the hold directory against an unprivileged member of the hold group (lab robot)", () => {
  beforeAll(async () => {
    await inRobot(["useradd", "--system", "--no-create-home", "--groups", "ros-rollback-hold", MEMBER]);
    await inRobot(["sh", "-c", `umask 077 && echo ${SECRET} > /root/hx-secret`]);
    await asMember(
      [
        `cd ${AGENT_HOLD_DIR}`,
        "ln -s /root/hx-secret shadow",
        "ln -s /proc/self/environ environ",
        "mkfifo fifo",
        "mkdir dir",
        `(umask 077 && echo ${MEMBER_SECRET} > private)`,
        `printf '\\033]0;owned\\007\\033[2Jcleared\\n' > title`,
        // A socket stays in the directory after its process exits.
        `python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'`,
      ].join(" && "),
    );
    expect(await inRobot(["stat", "-c", "%U %F", `${AGENT_HOLD_DIR}/fifo`])).toBe(`${MEMBER} fifo\n`);
  }, 60_000);

  it("GetStatus answers every time, each entry a hold naming its kind, nothing read through it", async () => {
    // Before the fix the fourth call had taken the last pool thread, blocked opening the FIFO.
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const c = agentClient(robot);
          try {
            return await getStatus(c, 10_000);
          } finally {
            c.close();
          }
        }),
      );
      for (const st of answers) expect(st.holds.map((h) => [h.name, h.reason])).toEqual(EXPECTED);
    }
    const metrics = await fetch(robot.metrics, { signal: AbortSignal.timeout(10_000) });
    expect(metrics.status).toBe(200);
  }, 120_000);

  it("status, --json, a refusal and the journal never show the secrets or the agent's environment", async () => {
    const human = await controller(robot, ["status"], 30_000);
    const json = await controller(robot, ["status", "--json"], 30_000);
    const refused = await controller(robot, ["rollback"], 30_000);
    expect(human.code, human.stderr).toBe(0);
    expect(json.code, json.stderr).toBe(0);
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toContain('file hold "shadow": symlink (not followed)');
    const holds = (json.json as { holds: { name: string; source: string; reason: string }[] }).holds;
    expect(holds.map((h) => [h.name, h.reason])).toEqual(EXPECTED);
    const journal = await inRobot([
      "journalctl",
      "-u",
      "ros-rollback-agent.service",
      "--no-pager",
      "-o",
      "cat",
    ]);
    for (const text of [human.stdout, human.stderr, json.stdout, refused.stdout, refused.stderr, journal]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(MEMBER_SECRET);
      expect(text).not.toContain(AGENT_ENV);
    }
    // The reason's escape sequences reach the operator's terminal escaped.
    expect(human.stdout).toContain('file hold "title": \\u001b]0;owned\\u0007\\u001b[2Jcleared');
    for (const text of [human.stdout, human.stderr, refused.stderr]) {
      expect(text.replace(/\n/g, "")).not.toMatch(UNSAFE);
    }
  }, 120_000);
});

// A preload (test code, not the agent's): on SIGUSR2 the agent's every pool thread blocks opening
// a FIFO nobody writes, as the hold-dir FIFO once did. The event loop stays responsive.
const PRELOAD = "/run/hx-block-pool.mjs";
const PRELOAD_TEXT = `import { open } from "node:fs/promises";
process.on("SIGUSR2", () => {
  for (let i = 0; i < 16; i++) open("/run/hx-pool/fifo" + i, "r").then((f) => f.close(), () => {});
});
`;
const DROP_IN = "/etc/systemd/system/ros-rollback-agent.service.d/hx-watchdog.conf";

describe("the systemd watchdog restarts an agent whose thread pool is stuck (lab robot)", () => {
  beforeAll(async () => {
    await inRobot(["sh", "-c", `cat > ${PRELOAD}`], PRELOAD_TEXT);
    await inRobot([
      "sh",
      "-c",
      "mkdir -p /run/hx-pool && for i in $(seq 0 15); do mkfifo /run/hx-pool/fifo$i; done",
    ]);
    // This robot only: a short WatchdogSec keeps the test short; the lab unit's NODE_OPTIONS plus the preload.
    const nodeOptions = `${await agentNodeOptions()} --import=${PRELOAD}`;
    await inRobot(["mkdir", "-p", DROP_IN.slice(0, DROP_IN.lastIndexOf("/"))]);
    await inRobot(
      ["sh", "-c", `cat > ${DROP_IN}`],
      `[Service]\nWatchdogSec=4\nEnvironment="NODE_OPTIONS=${nodeOptions}"\n`,
    );
    await inRobot(["systemctl", "daemon-reload"]);
    await inRobot(["systemctl", "restart", "ros-rollback-agent.service"]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
  }, 120_000);

  it("pings while the pool answers; once it is stuck, systemd's watchdog restarts the agent", async () => {
    const before = Number(await systemctlShow("NRestarts"));
    // Three WatchdogSec: a healthy agent keeps pinging and is not restarted.
    await new Promise((r) => setTimeout(r, 12_000));
    expect(Number(await systemctlShow("NRestarts"))).toBe(before);
    const pid = await systemctlShow("MainPID");
    await inRobot(["kill", "-USR2", pid]);
    await until(
      "systemd to restart the stuck agent",
      async () => (Number(await systemctlShow("NRestarts")) > before ? true : undefined),
      30_000,
    );
    const journal = await inRobot([
      "journalctl",
      "-u",
      "ros-rollback-agent.service",
      "--no-pager",
      "-o",
      "cat",
    ]);
    expect(journal).toContain("withholding watchdog pings");
    expect(journal).toMatch(/[Ww]atchdog timeout/);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    expect(await systemctlShow("MainPID")).not.toBe(pid);
  }, 120_000);
});

async function agentNodeOptions(): Promise<string> {
  const env = await inRobot([
    "systemctl",
    "show",
    "-p",
    "Environment",
    "--value",
    "ros-rollback-agent.service",
  ]);
  return /NODE_OPTIONS=(\S+)/.exec(env)?.[1] ?? "";
}
