#!/usr/bin/python3
"""Lab listener: subscribes to /chatter (std_msgs/String, or std_msgs/Header with --header)."""
import sys

import rospy
from std_msgs.msg import Header, String


def main(argv):
    header = "--header" in argv
    count = [0]

    def on_message(msg):
        count[0] += 1
        if count[0] == 1 or count[0] % 100 == 0:
            text = "seq %d stamp %s" % (msg.seq, msg.stamp.to_sec()) if header else msg.data
            rospy.loginfo("listener: heard %d messages, last: %s", count[0], text)

    rospy.init_node("listener")
    rospy.Subscriber("chatter", Header if header else String, on_message)
    rospy.spin()
    return 0


if __name__ == "__main__":
    sys.exit(main(rospy.myargv(sys.argv)))
