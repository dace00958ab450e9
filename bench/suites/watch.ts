// In the robot: the moment the previous system runs again after a switch away from it. Polled
// inside the robot (every 0.1 s, no exec round trip per poll) and reported on the robot's clock,
// which is the host's.
import { labExec } from "../../integration-tests/lab/index.js";

// $1: the previous system. Waits for /run/current-system to leave it, remembers the talker's PID
// while away, then waits until current-system is back, the talker runs with ANOTHER PID (the
// switch back restarts it, or starts it after a crash) and every unit is active.
const SCRIPT = `prev="$1"; pid=""
until [ "$(readlink /run/current-system)" != "$prev" ]; do sleep 0.1; done
while [ "$(readlink /run/current-system)" != "$prev" ]; do pid=$(systemctl show -p MainPID --value talker.service); sleep 0.1; done
while :; do
  now=$(systemctl show -p MainPID --value talker.service)
  if [ "$now" != "$pid" ] && [ "$now" != 0 ] && systemctl is-active -q roscore.service talker.service listener.service; then break; fi
  sleep 0.1
done
date +%s%3N`;

/** Starts the watch; resolves to the wall-clock ms at which the previous system ran again. */
export async function previousSystemBack(
  robot: string,
  previous: string,
  signal: AbortSignal,
  timeoutMs = 180_000,
): Promise<number> {
  const r = await labExec(robot, ["sh", "-c", SCRIPT, "watch", previous], { timeoutMs, signal });
  const ms = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isFinite(ms)) {
    throw new Error(`watch in ${robot} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  }
  return ms;
}
