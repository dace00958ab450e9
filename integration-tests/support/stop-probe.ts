// Whether the lab's talker stops by itself when SIGTERM lands at its worst moment: while its main
// thread holds a subscriber connection's queue lock inside rospy's publish() (see
// queue-lock-sigterm.py). rospy's own handler then deadlocks the node until systemd kills it
// after TimeoutStopSec (90 s): a switch restarting it waits that long (the fault matrix's
// "stayed in ACTIVATING" failure).
import { readFileSync } from "node:fs";
import type { Robot } from "./faults.js";

const HARNESS = readFileSync(new URL("./queue-lock-sigterm.py", import.meta.url), "utf8");
/** A topic and node name of their own: the system's talker and /chatter are left alone. */
const PROBE = "fm_stop_probe";

export interface StopProbe {
  /** The talker's exit status; 124 or 137 when the bound below had to end it. */
  readonly code: number;
  /** The tripwire fired: the signal did land while the lock was held. */
  readonly fired: boolean;
  readonly output: string;
}

/**
 * Runs the running system's talker.py (its ros-nodes store path) under the tripwire, with a
 * subscriber so that publish() writes to a connection. `timeout` only bounds a hang: a talker
 * that stops by itself exits well within it.
 */
export async function talkerStopUnderQueueLock(robot: Robot): Promise<StopProbe> {
  const script = `
nodes=$(nix-store -qR /run/current-system | grep -- '-ros-nodes$' | head -n 1)
[ -n "$nodes" ] || { echo "no ros-nodes in the running system" >&2; exit 2; }
rostopic echo /${PROBE} >/dev/null 2>&1 &
sub=$!
timeout -k 5 60 python3 - "$nodes/bin/talker.py" __name:=${PROBE} chatter:=/${PROBE}
rc=$?
kill $sub
exit $rc`;
  const r = await robot.exec(["sh", "-c", script], 90_000, HARNESS);
  return {
    code: r.code,
    fired: r.stdout.includes("tripwire: SIGTERM sent"),
    output: `${r.stdout}${r.stderr}`,
  };
}
