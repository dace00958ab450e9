# Runs a lab ROS node (argv[1:]: its script, then its arguments) with a tripwire in rospy: the
# first time the MAIN thread takes a subscriber connection's queue lock (publish() ->
# QueuedConnection.write_data), the process sends itself SIGTERM while holding that lock, so the
# Python-level handler runs inside the locked section. A node must still exit by itself, status 0.
# Read by support/stop-probe.ts; runs inside the lab robot, where rospy is.
import os
import runpy
import signal
import sys
import threading

from rospy.impl import tcpros_pubsub

fired = []


class Tripwire:
    """Wraps the connection's own lock: exclusion is unchanged, only the signal is added."""

    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        self._lock.__enter__()
        if not fired and threading.current_thread() is threading.main_thread():
            fired.append(True)
            print("tripwire: SIGTERM sent while the main thread holds a queue lock", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
        return self

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)


original_init = tcpros_pubsub.QueuedConnection.__init__


def init(self, connection, queue_size):
    original_init(self, connection, queue_size)
    self._lock = Tripwire(self._lock)


tcpros_pubsub.QueuedConnection.__init__ = init
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
