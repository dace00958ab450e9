#!/usr/bin/python3
"""Lab talker: std_msgs/String on /chatter at 10 Hz (like rospy_tutorials' talker).

--header        publish std_msgs/Header instead (like talker_header)
--silent        advertise /chatter but never publish
--crash-after S exit with status 3 S seconds after start
--fail-flag NAME stay silent while /var/lib/ros-rollback-lab-fail exists and is empty or holds NAME
                 (the lab makes one robot of a fleet fail with the same closure as the others)
"""
import os
import signal
import sys
import time

import rospy
from std_msgs.msg import Header, String


FAIL_FLAG = "/var/lib/ros-rollback-lab-fail"


def flagged(name):
    """Whether the lab's fail flag silences this talker (checked every message, so removing it heals)."""
    if name is None:
        return False
    try:
        with open(FAIL_FLAG) as f:
            wanted = f.read().strip()
    except OSError:
        return False
    return wanted in ("", name)


class StopSignals:
    """SIGTERM/SIGINT only set a flag; the main loop shuts rospy down between messages.

    rospy's own handler runs rospy's whole shutdown inside the signal, in this main thread. A
    signal that lands while publish() holds a subscriber connection's queue lock
    (rospy.impl.tcpros_pubsub.QueuedConnection, a non-reentrant Lock) makes that shutdown close
    the connection, whose callback takes the same lock: the node hangs until systemd's
    TimeoutStopSec kills it (90 s), and every switch that restarts it waits that long.
    """

    def __init__(self):
        self.received = None

    def install(self):
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._handle)

    def _handle(self, signum, _frame):
        self.received = signum


def main(argv):
    started = time.monotonic()
    header = "--header" in argv
    silent = "--silent" in argv
    crash_after = float(argv[argv.index("--crash-after") + 1]) if "--crash-after" in argv else None
    fail_name = argv[argv.index("--fail-flag") + 1] if "--fail-flag" in argv else None
    rospy.init_node("talker")
    pub = rospy.Publisher("chatter", Header if header else String, queue_size=10)
    # From here on the main thread publishes; before, rospy's handler is safe (and needed: it
    # ends the wait for a master that is down).
    stop = StopSignals()
    stop.install()
    rate = rospy.Rate(10)
    seq = 0
    while not rospy.is_shutdown() and stop.received is None:
        if crash_after is not None and time.monotonic() - started >= crash_after:
            rospy.logfatal("talker: crashing on purpose")
            rospy.signal_shutdown("crash")
            return 3
        if not silent and not flagged(fail_name):
            if header:
                pub.publish(Header(seq=seq, stamp=rospy.Time.now(), frame_id="lab"))
            else:
                pub.publish(String(data="hello world %d" % seq))
        seq += 1
        try:
            rate.sleep()
        except rospy.ROSInterruptException:
            break
    if stop.received is not None:
        rospy.signal_shutdown("signal-%d" % stop.received)
    return 0


if __name__ == "__main__":
    sys.exit(main(rospy.myargv(sys.argv)))
