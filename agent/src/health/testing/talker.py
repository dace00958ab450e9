#!/usr/bin/python3
"""A rospy publisher for the health tests: talker.py KIND TOPIC RATE_HZ [__name:=NODE]

KIND: string (std_msgs/String), header (std_msgs/Header), pose (geometry_msgs/PoseStamped),
custom (ros_rollback_test/Telemetry, a type made here from its definition: no package has it).
SIGUSR1: hang up on every subscriber and stay registered (as rospy does after a write error).
"""
import signal
import sys

import genpy.dynamic
import rospy

CUSTOM_DEFINITION = """std_msgs/Header header
float64 battery
string mode
uint8[] blob
================================================================================
MSG: std_msgs/Header
uint32 seq
time stamp
string frame_id
"""


def message_type(kind):
    if kind == "string":
        from std_msgs.msg import String

        return String, lambda i: String(data="hello %d" % i)
    if kind == "header":
        from std_msgs.msg import Header

        return Header, lambda i: Header(seq=i, stamp=rospy.Time.now(), frame_id="base_link")
    if kind == "pose":
        from geometry_msgs.msg import PoseStamped

        def pose(i):
            m = PoseStamped()
            m.header.frame_id = "map"
            m.pose.position.x = float(i)
            m.pose.orientation.w = 1.0
            return m

        return PoseStamped, pose
    if kind == "custom":
        cls = genpy.dynamic.generate_dynamic("ros_rollback_test/Telemetry", CUSTOM_DEFINITION)[
            "ros_rollback_test/Telemetry"
        ]

        def telemetry(i):
            m = cls()
            m.battery = 0.5
            m.mode = "auto"
            m.blob = bytes([i % 256]) * 16
            return m

        return cls, telemetry
    raise SystemExit("unknown kind " + kind)


def main():
    args = rospy.myargv(sys.argv)
    kind, topic, rate = args[1], args[2], float(args[3])
    cls, make = message_type(kind)
    rospy.init_node("talker_" + kind)
    pub = rospy.Publisher(topic, cls, queue_size=10)
    signal.signal(signal.SIGUSR1, lambda *_: [c.close() for c in pub.impl.connections])
    r = rospy.Rate(rate)
    i = 0
    while not rospy.is_shutdown():
        pub.publish(make(i))
        i += 1
        try:
            r.sleep()
        except rospy.ROSInterruptException:
            break


if __name__ == "__main__":
    main()
