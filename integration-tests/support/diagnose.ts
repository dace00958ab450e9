// What a failed fault-matrix cell leaves behind, read from the robot before the next cell resets
// it (and before labDown deletes it): its systemd jobs and unfinished units, the processes of the
// switch units with what they wait in, and the journals of the agent and of the switch units.
import type { Robot } from "./faults.js";

interface Probe {
  readonly argv: readonly string[];
  /** How many lines of its output to keep (the tail). */
  readonly lines: number;
}

const journal = (...args: string[]): string[] => [
  "journalctl",
  "-b",
  "--no-pager",
  "-o",
  "short-monotonic",
  ...args,
];

const PROBES: readonly Probe[] = [
  { argv: ["systemctl", "list-jobs", "--no-pager"], lines: 40 },
  {
    argv: [
      "systemctl",
      "list-units",
      "--all",
      "--plain",
      "--no-legend",
      "--no-pager",
      "--state=activating,deactivating,reloading,failed,auto-restart",
    ],
    lines: 40,
  },
  { argv: ["systemctl", "status", "--no-pager", "-n", "0", "ros-rollback-*"], lines: 60 },
  { argv: ["ps", "-eo", "pid,ppid,stat,etimes,wchan:24,args", "--forest"], lines: 80 },
  { argv: journal("-u", "ros-rollback-agent", "-n", "80"), lines: 80 },
  {
    argv: journal(
      "-u",
      "ros-rollback-switch-*",
      "-u",
      "ros-rollback-rollback-*",
      "-u",
      "lab-boot.service",
      "-n",
      "80",
    ),
    lines: 80,
  },
  // systemd's own lines: job queueing, ordering cycles, units it gave up on.
  { argv: journal("_PID=1", "-n", "60"), lines: 60 },
];

/**
 * The robot as a failed cell left it, as text for the test log: the above, and the journal of
 * `units` (the system's own, which a switch stops and starts). Never throws: a robot that is down
 * or hung says so in the text (each probe is bounded), so the cell's own error stays first.
 */
export async function robotDiagnostics(
  robot: Robot,
  units: readonly string[] = [],
  timeoutMs = 10_000,
): Promise<string> {
  const parts: string[] = [];
  const probes =
    units.length === 0
      ? PROBES
      : [...PROBES, { argv: journal(...units.flatMap((u) => ["-u", u]), "-n", "80"), lines: 80 }];
  for (const { argv, lines } of probes) {
    let body: string;
    try {
      const r = await robot.exec(argv, timeoutMs);
      body = tail(`${r.stdout}${r.stderr ? `\n[stderr] ${r.stderr}` : ""}`, lines);
      if (r.code !== 0) body += `\n[exit ${r.code}]`;
    } catch (e) {
      body = `[could not run: ${e instanceof Error ? e.message : String(e)}]`;
    }
    parts.push(`--- ${argv.join(" ")}\n${body}`);
  }
  return `=== robot ${robot.name} after the failure ===\n${parts.join("\n")}\n=== end of robot ${robot.name} ===\n`;
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split("\n");
  return all.length <= lines
    ? all.join("\n")
    : [`[${all.length - lines} lines left out]`, ...all.slice(-lines)].join("\n");
}
